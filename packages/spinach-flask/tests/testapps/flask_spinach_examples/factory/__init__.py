"""Documentation 7.2.2, "Application Factory": ``app.py`` and ``auth.py``."""
