"""Users of a tenant (module 2) and the roles they hold."""

from __future__ import annotations

from litestar import Controller, Request, delete, get, post
from sqlalchemy.orm import Session

from api.schemas.accounts import RoleGrant, UserCreate, UserPublic, UserRoles, UsersPublic
from api.schemas.base import PathId
from api.security import forget_principals, requires_permission
from lakehouse.accounts import rbac, users
from lakehouse.store import User


def user_roles(user: User) -> UserRoles:
    return UserRoles(
        user_id=user.id,
        roles=sorted(r.name for r in user.roles),
        permissions=rbac.permission_names(user.roles),
    )


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["Users"]
    after_response = staticmethod(forget_principals)

    @post(
        "/create-user",
        operation_id="create_user",
        guards=[requires_permission("users:create")],
        sync_to_thread=True,
    )
    def create_user(self, db: Session, request: Request, data: UserCreate) -> UserPublic:
        """Create a user in your tenant (any tenant for the platform administrator)."""
        user = users.create_user(db, request.user, users.NewUser(**data.model_dump()))
        return UserPublic.model_validate(user)

    @get(
        "/read-users",
        operation_id="read_users",
        guards=[requires_permission("users:read")],
        sync_to_thread=True,
    )
    def read_users(
        self, db: Session, request: Request, tenant_id: str | None = None
    ) -> UsersPublic:
        """The users of your tenant; the platform administrator may name another tenant."""
        tenant = rbac.tenant_in_reach(db, request.user, tenant_id)
        listed = [UserPublic.model_validate(u) for u in users.list_users(db, tenant.id)]
        return UsersPublic(data=listed, count=len(listed))

    @get("/{user_id:int}", operation_id="read_user", sync_to_thread=True)
    def read_user(self, db: Session, request: Request, user_id: PathId) -> UserPublic:
        """One user: yourself, or anyone of your tenant with 'users:read'."""
        return UserPublic.model_validate(users.read_user(db, request.user, user_id))

    @get(
        "/{user_id:int}/roles",
        operation_id="read_user_roles",
        guards=[requires_permission("rbac:read")],
        sync_to_thread=True,
    )
    def read_user_roles(self, db: Session, request: Request, user_id: PathId) -> UserRoles:
        """The roles a user holds and the permissions they grant."""
        return user_roles(users.get_user(db, request.user, user_id))

    @post(
        "/{user_id:int}/roles",
        operation_id="assign_role",
        guards=[requires_permission("rbac:manage")],
        sync_to_thread=True,
    )
    def assign_role(
        self, db: Session, request: Request, user_id: PathId, data: RoleGrant
    ) -> UserRoles:
        """Give a user a role of their tenant."""
        user = users.get_user(db, request.user, user_id)
        return user_roles(rbac.assign_role(db, request.user, user, data.role_id))

    @delete(
        "/{user_id:int}/roles/{role_id:int}",
        operation_id="unassign_role",
        guards=[requires_permission("rbac:manage")],
        status_code=200,
        sync_to_thread=True,
    )
    def unassign_role(
        self, db: Session, request: Request, user_id: PathId, role_id: PathId
    ) -> UserRoles:
        """Take a role away from a user."""
        user = users.get_user(db, request.user, user_id)
        return user_roles(rbac.unassign_role(db, request.user, user, role_id))
