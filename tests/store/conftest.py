import uuid

import pytest

import services
from polyrelay.store.database import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """A migrated, empty database of each kind the gateway supports."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'polyrelay.db'}")
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        database = Database(services.new_database(admin, f"t_{uuid.uuid4().hex[:12]}"))
    database.migrate()
    yield database
    database.dispose()
