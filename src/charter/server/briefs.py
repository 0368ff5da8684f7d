"""The brief refresher's place in the server (PostgreSQL): started with the app, stopped
with it (service/kept_briefs.py)."""

from __future__ import annotations

from fastapi import FastAPI

from charter.service.kept_briefs import BriefRefresher


def install_brief_refresher(app: FastAPI) -> None:
    def start() -> None:
        db = app.state.service.db
        if db.dialect == "postgresql":
            app.state.brief_refresher = BriefRefresher(db)
            app.state.brief_refresher.start()

    def stop() -> None:
        refresher = getattr(app.state, "brief_refresher", None)
        if refresher is not None:
            refresher.stop()
            app.state.brief_refresher = None

    app.router.add_event_handler("startup", start)
    app.router.add_event_handler("shutdown", stop)
