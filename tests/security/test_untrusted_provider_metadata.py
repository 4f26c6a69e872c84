"""Names and tags a provider lists are untrusted input: a real OpenBao serves hostile ones, a real sync stores them
(capped: providers/sync.py), and every page that shows them escapes them.

The pages: the inventory, the secret's page, the dashboard's "My work", the rotation list, queue and run page, the
audit log and the audit event's page. Control and direction-changing characters in names are shown as code points
there (tests/security/test_lookalike_names.py), so a page never carries them.
"""
import uuid

import hvac
import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from providers.models import Provider, Secret
from providers.sync import TAG_VALUE_MAX, TAGS_MAX, sync_provider
from rotation.policy_services import assign_policy, create_policy
from rotation.services import request_rotation
from tests.security.fingerprint import raw_markup_leaks, shows_escaped, shows_name
from tests.security.world import TOKEN_VARIABLE
from tests.servers.openbao import enable_kv2

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
# Data keys become secret names ("path#key"); a KV v2 key may be any string.
HOSTILE_KEYS = [SCRIPT, IMG, "bell\x07 esc\x1b[31m del\x7f", "invoice\u202egpj.exe"]
HOSTILE_TAGS = {
    "owner<script>": SCRIPT,
    "note": IMG,
    "huge": "&<>" * 170,  # 510 characters, within OpenBao's 512: capped to 256 by the sync
    # 60 tags in all: OpenBao's limit is 64, ours 50. (OpenBao refuses control characters in tags; the names
    # carry them.)
    **{f"zz-extra-{n:02d}": f"<b>{n}</b>" for n in range(57)},  # listed last (sorted)
}


@pytest.fixture
def hostile(world, battery_vault, monkeypatch):
    """A provider on a KV v2 mount of its own whose one secret has hostile keys and tags; synced twice, with a
    change in between, so that an out-of-band audit event names a hostile secret."""
    mount = f"hostile-{uuid.uuid4().hex[:8]}"
    root = hvac.Client(url=battery_vault["url"], token=battery_vault["token"])
    enable_kv2(root, mount)
    kv = root.secrets.kv.v2

    def write(version):
        kv.create_or_update_secret("apps/hostile", secret=dict.fromkeys(HOSTILE_KEYS, f"value-{version}"),
                                   mount_point=mount)

    write(1)
    kv.update_metadata("apps/hostile", custom_metadata=HOSTILE_TAGS, mount_point=mount)
    provider = Provider.objects.create(
        kind="vault", name="vault-hostile", settings={"address": battery_vault["url"], "mount": mount},
        auth_reference={"method": "env", "variables": {"token": TOKEN_VARIABLE}})
    assert sync_provider(provider.pk, actor="system").ok
    write(2)  # a new version nobody rotated: the next sync records drift, naming each secret in the audit log
    result = sync_provider(provider.pk, actor="system")
    assert result.ok and len(result.out_of_band) == len(HOSTILE_KEYS)
    yield provider
    root.sys.disable_secrets_engine(mount)


def names():
    return [f"apps/hostile#{key}" for key in HOSTILE_KEYS]


def assert_escaped(page, texts, where):
    for text in texts:
        assert not raw_markup_leaks(page, text), f"{text!r} unescaped on {where}"


def test_the_sync_stores_hostile_names_and_caps_hostile_tags(hostile):
    stored = {secret.name: secret for secret in Secret.objects.filter(provider=hostile)}
    assert sorted(stored) == sorted(names())  # names are kept as the provider spells them
    tags = next(iter(stored.values())).tags
    assert len(tags) == TAGS_MAX and all(len(value) <= TAG_VALUE_MAX for value in tags.values())
    assert tags["owner<script>"] == SCRIPT and tags["huge"] == ("&<>" * 170)[:TAG_VALUE_MAX]


def test_hostile_names_and_tags_are_escaped_on_the_inventory_and_the_secret_page(hostile, world, client):
    client.force_login(world["alice"])
    inventory = client.get(reverse("providers:secret_list"), {"provider": "vault-hostile"}).content.decode()
    for name in names():
        assert shows_name(inventory, name), f"{name!r} not listed (escaped, hidden characters as code points)"
    assert_escaped(inventory, names(), "the inventory")
    secret = Secret.objects.get(provider=hostile, name=f"apps/hostile#{SCRIPT}")
    page = client.get(reverse("providers:secret_detail", args=[secret.uuid])).content.decode()
    shown = [secret.name, "owner<script>", SCRIPT, IMG, secret.tags["huge"]]
    assert all(shows_escaped(page, text) for text in shown)
    assert_escaped(page, shown, "the secret's page")


def test_hostile_names_are_escaped_on_the_dashboard_and_the_rotation_pages(hostile, world, client):
    policy = create_policy(actor=world["erin"], name="hostile-policy", target={"kind": "none"})
    assign_policy(policy, actor=world["erin"], provider=hostile)
    secret = Secret.objects.get(provider=hostile, name=f"apps/hostile#{IMG}")
    rotation = request_rotation(secret, actor=world["bob"], reason=SCRIPT)
    client.force_login(world["charlie"])  # "My work" lists what charlie may approve, by secret name
    for path in (reverse("dashboard:home"), reverse("rotation:approval_queue"), reverse("rotation:request_list"),
                 rotation.get_absolute_url()):
        page = client.get(path).content.decode()
        assert shows_escaped(page, secret.name), f"{path} does not show the secret"
        assert_escaped(page, [secret.name, SCRIPT], path)


def test_hostile_names_are_escaped_in_the_audit_log(hostile, world, client):
    assign_perm("providers.view_provider", world["dana"], hostile)
    client.force_login(world["dana"])
    listing = client.get(reverse("audit:event_list"), {"event_type": "secret.changed_out_of_band"})
    page = listing.content.decode()
    assert all(shows_name(page, name) for name in names())
    assert_escaped(page, names(), "the audit log")
    for event in AuditEvent.objects.filter(event_type="secret.changed_out_of_band"):
        detail = client.get(reverse("audit:event_detail", args=[event.uuid])).content.decode()
        assert shows_name(detail, event.secret_name)
        assert_escaped(detail, [event.secret_name], "the audit event's page")
