"""A minimal Django project using spinach.contrib.spinachd, on SQLite."""
