"""The workbench profile's domain: accounts by email, projects, datasets uploaded into them,
their rows and their SQL, models trained from templates and the experiments on them."""
