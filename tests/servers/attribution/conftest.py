from tests.servers.attribution.day import desk  # noqa: F401  (the fixture every attribution test uses)
