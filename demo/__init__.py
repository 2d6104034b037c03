"""Demo data: `manage.py seed_demo` and what it seeds. The top of the app table: it may use
every app, and no app uses it."""
