"""structlog setup: readable console lines in development, JSON lines in production, always on stderr."""

import logging
import sys

import structlog


def configure_logging(*, level: str = "INFO", fmt: str = "console") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # plain tracebacks: the rich ones (with locals) take seconds and hold the event loop
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *([structlog.processors.dict_tracebacks] if fmt == "json" else []),
    ]
    structlog.configure(
        # filter_by_level first: a debug line nobody listens to costs a level check, not the processors
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # not cached: tests (structlog.testing.capture_logs) and reconfiguration must reach every logger
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    # Replace only our own handler: others (a test runner's capture, an embedding app's) stay.
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "_openhitl", False)]
    handler._openhitl = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Alembic announces its plugins and its dialect on every start; of its lines only the steps it ran
    # ("Running upgrade 0004 -> 0005, …") say what changed, and warnings still pass.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    migration.setLevel(logging.INFO)
    migration.addFilter(_migration_steps_only)  # the same function is added once, however often this runs


def _migration_steps_only(record: logging.LogRecord) -> bool:
    return record.levelno > logging.INFO or str(record.msg).startswith("Running ")
