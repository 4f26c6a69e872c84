"""Single sign-on with OpenID Connect: the authentication backend, and roles taken from the provider's groups."""
import re
from contextlib import contextmanager

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

import audit
from secretsadmin import roles

SOURCE = "single sign-on"
CLOCK_SKEW_SECONDS = 60  # between the provider's clock and ours, for exp/iat/nbf
OAUTH_ERROR = re.compile(r"[a-z_]{1,40}")  # RFC 6749's error codes; anything else a provider sends is not repeated
_PROFILE_CLAIMS = {"email": ("email", 254), "first_name": ("given_name", 150), "last_name": ("family_name", 150)}


class SingleSignOnError(Exception):
    """A sign-in through the identity provider that does not go through; the reason is shown and audited.

    Reasons are written here, never copied from a token or a provider's answer, so none can carry a token.
    """

    status = 400

    def __init__(self, reason, *, username=""):
        super().__init__(reason)
        self.reason, self.username = reason, username


class ProviderUnreachable(SingleSignOnError):
    status = 502


@contextmanager
def _calling(what):
    """Turns requests' errors from one call to the provider into a reason a person can act on."""
    try:
        yield
    except (requests.ConnectionError, requests.Timeout):
        raise ProviderUnreachable(f"the identity provider's {what} could not be reached") from None
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        error = _oauth_error(exc.response)
        raise SingleSignOnError(f"the identity provider's {what} answered HTTP {status}{error}") from None
    except (requests.RequestException, ValueError):  # ValueError: an answer that is not JSON
        raise SingleSignOnError(f"the identity provider's {what} sent an answer that could not be read") from None


def _oauth_error(response):
    try:
        code = response.json().get("error")
    except (AttributeError, ValueError):
        return ""
    return f" ({code})" if isinstance(code, str) and OAUTH_ERROR.fullmatch(code) else ""


class SingleSignOnBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with the ID token checked in full and users matched by a configured claim.

    Permissions are left to ModelBackend (this class answers no permission question), so the query count of a
    page is the same whichever way its user signed in.
    """

    def authenticate(self, request, nonce=None, code_verifier=None, **kwargs):
        # Only the callback view passes a nonce: a password sign-in is never ours, even if its URL has ?code=.
        if request is None or nonce is None or kwargs:
            return None
        try:
            return super().authenticate(request, nonce=nonce, code_verifier=code_verifier)
        except SuspiciousOperation as exc:
            # mozilla-django-oidc's own checks (nonce, key lookup): fixed messages, no token in them.
            raise SingleSignOnError(f"the identity provider's answer failed a check: {str(exc).rstrip('.')}") from None

    def get_token(self, payload):
        with _calling("token endpoint"):
            token_info = super().get_token(payload)
        if not isinstance(token_info, dict) or not isinstance(token_info.get("id_token"), str):
            raise SingleSignOnError("the identity provider's token endpoint sent no ID token")
        return token_info

    def verify_token(self, token, **kwargs):
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise SingleSignOnError("the ID token is not a signed JWT") from None
        # Checked before any key is looked up: never "none", never HS256 keyed with the (shared) client secret.
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise SingleSignOnError(f"the ID token is not signed with {self.OIDC_RP_SIGN_ALGO}")
        return super().verify_token(token, **kwargs)

    def retrieve_matching_jwk(self, token):
        with _calling("key set (JWKS)"):
            try:
                return super().retrieve_matching_jwk(token)
            except (KeyError, TypeError, SuspiciousOperation, jwt.PyJWTError):
                raise SingleSignOnError("the ID token's signing key is not in the provider's key set") from None

    def get_payload_data(self, token, key):
        """The ID token's claims, after checking signature, algorithm, issuer, audience and lifetime."""
        try:
            payload = jwt.decode(token, key, algorithms=[self.OIDC_RP_SIGN_ALGO], audience=self.OIDC_RP_CLIENT_ID,
                                 issuer=settings.OIDC_OP_ISSUER, leeway=CLOCK_SKEW_SECONDS,
                                 options={"require": ["iss", "sub", "aud", "exp", "iat"]})
        except jwt.ExpiredSignatureError:
            raise SingleSignOnError("the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise SingleSignOnError("the ID token was issued for another client") from None
        except jwt.InvalidIssuerError:
            raise SingleSignOnError("the ID token was issued by another identity provider") from None
        except jwt.InvalidSignatureError:
            raise SingleSignOnError("the ID token's signature does not match the provider's keys") from None
        except jwt.PyJWTError as exc:
            raise SingleSignOnError(f"the ID token is not valid ({type(exc).__name__})") from None
        audience = payload["aud"]
        # OpenID Connect Core 3.1.3.7: with several audiences, azp must name us.
        if isinstance(audience, list) and len(audience) > 1 and payload.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SingleSignOnError("the ID token was issued for several clients and not authorised for this one")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        if not self.OIDC_OP_USER_ENDPOINT:
            return {}
        with _calling("userinfo endpoint"):
            userinfo = super().get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload["sub"]:
            # OpenID Connect Core 5.3.4: a userinfo answer about someone else is refused.
            raise SingleSignOnError("the userinfo answer is not about the person in the ID token")
        return userinfo

    def get_or_create_user(self, access_token, id_token, payload):
        claims = {**payload, **self.get_userinfo(access_token, id_token, payload)}
        return sign_in_from_claims(claims)

    def get_user(self, user_id):
        # ModelBackend's, which refuses a deactivated account (mozilla-django-oidc's would keep its sessions).
        return super(OIDCAuthenticationBackend, self).get_user(user_id)

    def get_all_permissions(self, user_obj, obj=None):
        return set()

    def has_perm(self, user_obj, perm, obj=None):
        return False

    def has_module_perms(self, user_obj, app_label):
        return False


def username_from(claims):
    claim = settings.OIDC_USERNAME_CLAIM
    value = claims.get(claim)
    if not isinstance(value, str) or not value:
        raise SingleSignOnError(f"the identity provider sent no {claim} claim to take the username from")
    try:
        if len(value) > 150:
            raise ValidationError("too long")
        UnicodeUsernameValidator()(value)
    except ValidationError:
        raise SingleSignOnError(f"the {claim} claim is not a valid username (at most 150 letters, digits and "
                                "@ . + - _)") from None
    return value


def groups_from(claims):
    value = claims.get(settings.OIDC_GROUPS_CLAIM, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(group, str) for group in value):
        raise SingleSignOnError(f"the {settings.OIDC_GROUPS_CLAIM} claim is not a list of group names")
    return set(value)


def roles_for(groups, mapping):
    """(wanted roles, managed roles): managed are the roles the mapping names at all, the only ones synced."""
    managed = {role for mapped in mapping.values() for role in mapped}
    wanted = {role for group in groups if group in mapping for role in mapping[group]}
    return wanted, managed


@transaction.atomic
def sign_in_from_claims(claims):
    """Find or create the user the claims name, set their managed roles to what the groups map to; audited."""
    username = username_from(claims)
    groups = groups_from(claims)
    mapping = settings.OIDC_ROLE_MAPPING
    profile = {field: str(claims[claim])[:limit] for field, (claim, limit) in _PROFILE_CLAIMS.items()
               if isinstance(claims.get(claim), str)}
    user, created = get_user_model().objects.select_for_update().get_or_create(
        username=username, defaults={"password": make_password(None), **profile})
    if not created:
        if user.has_usable_password():
            # A local account (a break-glass superuser, or someone not moved to SSO yet): the identity provider
            # must not be able to take it over by sending its name.
            raise SingleSignOnError("a local account with a password already has this username; an administrator "
                                    "must turn its password off before it can use single sign-on", username=username)
        if not user.is_active:
            raise SingleSignOnError("this account is deactivated", username=username)
    wanted, managed = roles_for(groups, mapping)
    current = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
    granted, revoked = sorted(wanted - current), sorted(current - wanted)
    if granted:
        user.groups.add(*Group.objects.filter(name__in=granted))
    if revoked:
        user.groups.remove(*Group.objects.filter(name__in=revoked))
    changes = dict(profile)
    if roles.ADMINISTRATOR in managed and not user.is_superuser:
        changes["is_staff"] = roles.ADMINISTRATOR in wanted  # Administrators use the admin site, as in the demo
    changed = [field for field, value in changes.items() if getattr(user, field) != value]
    if changed:
        for field in changed:
            setattr(user, field, changes[field])
        user.save(update_fields=changed)
    target = ("auth.user", user.pk, username)
    # The role changes are the identity provider's doing, not the person's: "system" is their actor.
    role_events = [(f"permission.{kind}", {"target": target, "details": {"group": role, "source": SOURCE}})
                   for kind, names in (("granted", granted), ("revoked", revoked)) for role in names]
    if role_events:
        audit.record_many(role_events, actor="system")
    audit.record("auth.sso_login", actor=user, target=target, details={
        "issuer": settings.OIDC_OP_ISSUER, "subject": str(claims["sub"])[:255], "account_created": created,
        "mapped_groups": sorted(group for group in groups if group in mapping)[:50],
        "roles": sorted(user.groups.filter(name__in=roles.ROLE_NAMES).values_list("name", flat=True)),
    })
    return user
