"""Request and response bodies, with the reference's field names, by domain."""
