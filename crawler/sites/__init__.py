"""Site profiles (``profile.py``, ``profiles/*.toml``) and the spiders they make (``loader.py``)."""
