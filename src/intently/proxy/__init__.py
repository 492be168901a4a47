"""OpenAI-compatible proxy (``intently proxy``): function calling for any model's text."""

from intently.proxy.app import ProxySettings, create_proxy_app

__all__ = ["ProxySettings", "create_proxy_app"]
