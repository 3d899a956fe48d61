"""Storage: SQLAlchemy models, engine and sessions, Alembic migrations, repositories,
import/export, and the identity-free snapshot the engine reads."""
