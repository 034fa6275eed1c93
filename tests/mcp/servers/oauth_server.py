"""An MCP server with its own OAuth 2.1 authorization server, for coda's OAuth tests.

    python oauth_server.py --port PORT [--access-lifetime SECONDS] [--static-token TOKEN]
                           [--transport http|sse]

The SDK's MCPServer serves streamable HTTP at /mcp (or legacy SSE at /sse) and, through an in-memory
OAuthAuthorizationServerProvider, the discovery documents, /register (dynamic client
registration), /authorize (approves at once: it redirects straight back with a code) and
/token (PKCE-checked codes, rotating refresh tokens). GET /debug/counters answers how many
registrations, authorizations, code exchanges and refreshes it has done, so a test can tell
a reused token from a new login. --static-token is a pre-issued bearer token it also accepts.
It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections import Counter

import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class AutoApproveProvider(
    OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]
):
    """Everything in memory; every authorization request is approved without a page."""

    def __init__(self, issuer: str, resource: str, lifetime: int, static_token: str) -> None:
        self.issuer = issuer
        self.resource = resource
        self.lifetime = lifetime
        self.static_token = static_token
        self.counters: Counter[str] = Counter()
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.counters["register"] += 1
        self.clients[client_info.client_id] = client_info

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        self.counters["authorize"] += 1
        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [],
            expires_at=time.time() + 300,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
        )
        return construct_redirect_uri(
            str(params.redirect_uri), code=code, state=params.state, iss=self.issuer
        )

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        code = self.codes.get(authorization_code)
        return code if code is not None and code.client_id == client.client_id else None

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        self.counters["code_exchange"] += 1
        del self.codes[authorization_code.code]
        return self._issue(client.client_id, authorization_code.scopes, authorization_code.resource)

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        token = self.refresh.get(refresh_token)
        return token if token is not None and token.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        if self.refresh.pop(refresh_token.token, None) is None:
            raise TokenError(error="invalid_grant", error_description="refresh token already used")
        self.counters["refresh"] += 1
        return self._issue(client.client_id, scopes or refresh_token.scopes, refresh_token.resource)

    async def load_access_token(self, token: str) -> AccessToken | None:
        if self.static_token and token == self.static_token:
            self.counters["static_bearer"] += 1
            return AccessToken(token=token, client_id="static", scopes=[], resource=self.resource)
        found = self.access.get(token)
        if found is None or (found.expires_at is not None and found.expires_at < time.time()):
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.access.pop(token.token, None)
        self.refresh.pop(token.token, None)

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access[access] = AccessToken(
            token=access,
            client_id=client_id,
            scopes=scopes,
            expires_at=int(time.time()) + self.lifetime,
            resource=resource,
        )
        self.refresh[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, resource=resource
        )
        return OAuthToken(
            access_token=access,
            expires_in=self.lifetime,
            refresh_token=refresh,
            scope=" ".join(scopes) or None,
        )


def build(port: int, lifetime: int, static_token: str, endpoint: str) -> MCPServer:
    issuer = f"http://127.0.0.1:{port}"
    resource = f"{issuer}{endpoint}"
    provider = AutoApproveProvider(issuer, resource, lifetime, static_token)
    server: MCPServer = MCPServer(
        "oauth-test",
        auth_server_provider=provider,
        auth=AuthSettings(
            issuer_url=issuer,  # type: ignore[arg-type]  # pydantic parses the string
            resource_server_url=resource,  # type: ignore[arg-type]
            validate_token_resource=True,
            client_registration_options=ClientRegistrationOptions(enabled=True),
            revocation_options=RevocationOptions(enabled=True),
        ),
        log_level="WARNING",
    )

    @server.tool()
    def whoami(ctx: Context) -> str:
        """Name the OAuth client the call was authorized for."""
        from mcp.server.auth.middleware.auth_context import get_access_token

        token = get_access_token()
        return f"client {token.client_id if token else '?'}"

    @server.custom_route("/debug/counters", methods=["GET"])  # type: ignore[untyped-decorator]
    async def counters(_request: Request) -> Response:
        return JSONResponse(dict(provider.counters))

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-lifetime", type=int, default=3600)
    parser.add_argument("--static-token", default="")
    parser.add_argument("--transport", choices=["http", "sse"], default="http")
    args = parser.parse_args()
    if args.transport == "sse":
        server = build(args.port, args.access_lifetime, args.static_token, "/sse")
        app = server.sse_app(host="127.0.0.1")
    else:
        server = build(args.port, args.access_lifetime, args.static_token, "/mcp")
        app = server.streamable_http_app(host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
