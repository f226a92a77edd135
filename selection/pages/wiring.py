"""What the app factory (selection/web/app.py) takes from the pages, made in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.stores.base import Store
from litestar.template.config import TemplateConfig

from lib.settings import Settings
from selection.pages.assets import StaticAssets
from selection.pages.routes import pages_router
from selection.pages.sessions import STORE
from selection.pages.site import Pages

#: The API docs' script and style, served by the service: the docs work with no internet.
SCALAR_JS = "vendor/scalar/api-reference-1.76.0.standalone.js"
SCALAR_CSS = "vendor/scalar/scalar.css"


class PageWiring:
    def __init__(self, settings: Settings, assets: StaticAssets | None = None) -> None:
        self.assets = assets or StaticAssets()
        self.pages = Pages(settings, self.assets)
        self.route_handlers: list[Any] = [pages_router(self.pages), self.assets.route()]
        self.template_config: TemplateConfig[JinjaTemplateEngine] = self.pages.template_config()
        self.stores: dict[str, Store] = {STORE: self.pages.store()}
        self.openapi_ui = ScalarRenderPlugin(
            js_url=self.assets.url(SCALAR_JS),
            css_url=self.assets.url(SCALAR_CSS),
            favicon=f"<link rel='icon' type='image/svg+xml' href='{self.assets.url('favicon.svg')}'>",
            # Scalar's own fonts come from its servers: the system's fonts instead.
            options={"withDefaultFonts": False, "hideClientButton": True},
        )

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # The session store's Redis client is its own (handle_client_shutdown): closed here.
            await self.stores[STORE].__aexit__(None, None, None)
            if self.pages.oidc is not None:
                await self.pages.oidc.close()
