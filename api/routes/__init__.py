"""Route modules; every module exposing ``router`` is included by ``api.main.create_app``."""
