"""OAuth 2.0 as Salesforce answers it: client credentials, JWT bearer, refresh and password
flows, login history and lockouts, token revocation, and staged consumer secrets (v65.0+)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import jwt

from sovgw.sfsim.model import (
    JWT_AUDIENCES,
    JWT_GRANT,
    ConnectedApp,
    IssuedToken,
    OAuthError,
    RestError,
    SimOrg,
    hash_password,
)
from sovgw.sfsim.store import OrgStore


class OAuthApi:
    """``/services/oauth2/*`` and the staged-credentials Connect API."""

    def __init__(self, store: OrgStore) -> None:
        self.store = store

    def issue_refresh_token(self, org: SimOrg, user_id: str, client_id: str) -> str:
        """A refresh token as if the user had approved the app (web-server flow's result)."""
        with self.store.lock:
            return self._issue(org, user_id, client_id, "refresh", None).value

    # --- OAuth 2.0 --------------------------------------------------------------------------

    def _issue(
        self, org: SimOrg, user_id: str, client_id: str, kind: str, parent: str | None
    ) -> IssuedToken:
        if kind == "access":
            value = f"{org.org_id[:15]}!{secrets.token_urlsafe(72)}"
            expires: datetime | None = self.store.now() + timedelta(seconds=org.session_seconds)
        else:
            value = f"5Aep{secrets.token_urlsafe(60)}"
            expires = None
        token = IssuedToken(
            value, kind, org.org_id, user_id, client_id, self.store.now(), expires, parent
        )
        self.store.tokens[value] = token
        return token

    def _client(self, client_id: str, client_secret: str | None) -> tuple[SimOrg, ConnectedApp]:
        entry = self.store.apps.get(client_id)
        if entry is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        org, app = self.store.orgs[entry[0]], entry[1]
        if client_secret is not None and not any(
            hmac.compare_digest(client_secret, valid)
            for valid in (app.client_secret, app.staged_secret)
            if valid is not None
        ):
            raise OAuthError("invalid_client", "invalid client credentials")
        return org, app

    def _record_login(self, org: SimOrg, user_id: str, status: str, app: ConnectedApp) -> None:
        self.store.insert(
            org,
            "LoginHistory",
            {
                "UserId": user_id,
                "LoginTime": self.store.iso(self.store.now()),
                "Status": status,
                "LoginType": "Remote Access 2.0",
                "Application": app.client_id,
            },
        )

    def _check_login_rate(self, org: SimOrg, user_id: str) -> None:
        auth = org.users[user_id]
        cutoff = self.store.now() - timedelta(hours=1)
        while auth.logins and auth.logins[0] <= cutoff:
            auth.logins.popleft()
        if len(auth.logins) >= org.logins_per_user_per_hour:
            raise OAuthError("invalid_grant", "LOGIN_RATE_EXCEEDED: too many logins for this user")
        auth.logins.append(self.store.now())

    def _session_response(
        self, org: SimOrg, token: IssuedToken, refresh: str | None = None
    ) -> dict[str, Any]:
        issued_at = str(int(token.issued_at.timestamp() * 1000))
        signature = hmac.new(org.org_id.encode(), (token.value + issued_at).encode(), "sha256")
        body: dict[str, Any] = {
            "access_token": token.value,
            "instance_url": self.store.base_url,
            "id": f"{self.store.base_url}/id/{org.org_id}/{token.user_id}",
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature.hexdigest(),
            "scope": "api refresh_token" if refresh else "api",
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """``POST /services/oauth2/token``."""
        with self.store.lock:
            grant = form.get("grant_type", "")
            if grant == "client_credentials":
                return self._client_credentials(form)
            if grant == JWT_GRANT:
                return self._jwt_bearer(form)
            if grant == "refresh_token":
                return self._refresh(form)
            if grant == "password":
                return self._password(form)
            raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _client_credentials(self, form: Mapping[str, str]) -> dict[str, Any]:
        org, app = self._client(form.get("client_id", ""), form.get("client_secret", ""))
        if app.run_as_user_id is None:
            raise OAuthError("invalid_grant", "no client credentials user enabled")
        self._check_login_rate(org, app.run_as_user_id)
        if self.store.is_locked(org, app.run_as_user_id):
            raise OAuthError("invalid_grant", "authentication failure")
        self._record_login(org, app.run_as_user_id, "Success", app)
        return self._session_response(
            org, self._issue(org, app.run_as_user_id, app.client_id, "access", None)
        )

    def _jwt_bearer(self, form: Mapping[str, str]) -> dict[str, Any]:
        assertion = form.get("assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        org, app = self._client(str(unverified.get("iss", "")), None)
        if not app.jwt_public_key_pem:
            raise OAuthError("invalid_client", "invalid client credentials")
        try:
            claims = jwt.decode(
                assertion,
                app.jwt_public_key_pem,
                algorithms=["RS256"],
                audience=[*JWT_AUDIENCES, self.store.base_url],
                options={"require": ["exp", "sub", "aud"]},
                leeway=0,
            )
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", "audience is invalid") from None
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims["exp"] > (self.store.now() + timedelta(minutes=5)).timestamp():
            raise OAuthError("invalid_grant", "invalid assertion: exp too far in the future")
        user_id = self._user_by_name(org, str(claims["sub"]))
        if user_id is None:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        self._check_login_rate(org, user_id)
        if self.store.is_locked(org, user_id):
            raise OAuthError("invalid_grant", "authentication failure")
        self._record_login(org, user_id, "Success", app)
        return self._session_response(org, self._issue(org, user_id, app.client_id, "access", None))

    def _refresh(self, form: Mapping[str, str]) -> dict[str, Any]:
        org, app = self._client(form.get("client_id", ""), form.get("client_secret"))
        presented = self.store.tokens.get(form.get("refresh_token", ""))
        if (
            presented is None
            or presented.kind != "refresh"
            or presented.revoked
            or presented.client_id != app.client_id
        ):
            raise OAuthError("invalid_grant", "expired access/refresh token")
        refresh_value = presented.value
        if app.rotate_refresh_tokens:
            presented.revoked = True
            refresh_value = self._issue(
                org, presented.user_id, app.client_id, "refresh", None
            ).value
        access = self._issue(org, presented.user_id, app.client_id, "access", refresh_value)
        return self._session_response(
            org, access, refresh_value if app.rotate_refresh_tokens else None
        )

    def _password(self, form: Mapping[str, str]) -> dict[str, Any]:
        org, app = self._client(form.get("client_id", ""), form.get("client_secret", ""))
        user_id = self._user_by_name(org, form.get("username", ""))
        if user_id is None:
            raise OAuthError("invalid_grant", "authentication failure")
        auth = org.users[user_id]
        self._check_login_rate(org, user_id)
        if self.store.is_locked(org, user_id):
            self._record_login(org, user_id, "Password Lockout", app)
            raise OAuthError("invalid_grant", "authentication failure")
        password = form.get("password", "")
        if auth.password_hash is None or not hmac.compare_digest(
            hash_password(password, auth.salt), auth.password_hash
        ):
            auth.failed_attempts += 1
            if auth.failed_attempts >= org.lockout_threshold:
                auth.locked_until = self.store.now() + timedelta(minutes=org.lockout_minutes)
                auth.failed_attempts = 0
            self._record_login(org, user_id, "Invalid Password", app)
            raise OAuthError("invalid_grant", "authentication failure")
        auth.failed_attempts = 0
        self._record_login(org, user_id, "Success", app)
        return self._session_response(org, self._issue(org, user_id, app.client_id, "access", None))

    # --- OAuth staged credentials (Connect REST API, v65.0+) ------------------------------

    def _org_app(self, org: SimOrg, client_id: str) -> ConnectedApp:
        entry = self.store.apps.get(client_id)
        if entry is None or entry[0] != org.org_id[:15]:
            raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
        return entry[1]

    def stage_credentials(self, org: SimOrg, client_id: str) -> dict[str, Any]:
        """Generate a staged consumer secret; the current one keeps working."""
        with self.store.lock:
            app = self._org_app(org, client_id)
            if app.staged_secret is not None:
                raise RestError(409, "STAGED_CREDENTIAL_EXISTS", "delete or rotate it first")
            app.staged_secret = secrets.token_urlsafe(32)
            return {"consumerKey": app.client_id, "consumerSecret": app.staged_secret}

    def rotate_staged(self, org: SimOrg, client_id: str) -> dict[str, Any]:
        """The staged secret becomes the only valid one."""
        with self.store.lock:
            app = self._org_app(org, client_id)
            if app.staged_secret is None:
                raise RestError(404, "NOT_FOUND", "no staged credential")
            app.client_secret, app.staged_secret = app.staged_secret, None
            return {"consumerKey": app.client_id, "rotated": True}

    def delete_staged(self, org: SimOrg, client_id: str) -> None:
        with self.store.lock:
            app = self._org_app(org, client_id)
            if app.staged_secret is None:
                raise RestError(404, "NOT_FOUND", "no staged credential")
            app.staged_secret = None

    def revoke(self, token_value: str) -> None:
        """``POST /services/oauth2/revoke``: a refresh token takes its access tokens with it."""
        with self.store.lock:
            token = self.store.tokens.get(token_value)
            if token is None or token.revoked:
                raise OAuthError("invalid_token", "invalid token")
            token.revoked = True
            if token.kind == "refresh":
                for other in self.store.tokens.values():
                    if other.parent == token.value:
                        other.revoked = True

    def _user_by_name(self, org: SimOrg, username: str) -> str | None:
        return next((uid for uid, auth in org.users.items() if auth.username == username), None)
