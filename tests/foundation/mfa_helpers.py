"""What the MFA tests (and the browser journeys) do like a person: read the key off the page, compute a code."""
import re
import time
from base64 import b32decode
from html import unescape

from django.urls import reverse
from django_otp.oath import TOTP, hotp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_PASSWORD

STEP = 30  # django-otp's default time step, the one the set-up page tells the user


def key_from_page(html):
    """The key as the set-up page shows it for typing in by hand ("ABCD EFGH ..."), as bytes."""
    shown = re.search(r'data-testid="mfa-manual-key">([A-Z2-7 ]+)</code>', html)
    assert shown, "the set-up page shows no manual key"
    return b32decode(shown.group(1).replace(" ", ""))


def code_for(key, *, after_step=-1):
    """A code the server accepts now for this key: the current step's, or, when that step (or a later one) was
    already used (django-otp refuses a step twice), the next step's, which it allows for clock drift. Only when
    both are used does this wait for the clock to reach a new step."""
    totp = TOTP(key, step=STEP)
    while True:
        now = totp.t()
        for step in (now, now + 1):
            if step > after_step:
                return f"{hotp(key, step):06d}", step
        time.sleep(STEP - time.time() % STEP + 0.05)


def device_code(device):
    """The code to enter for a TOTP device row (as the test fixture or an enrolment left it)."""
    device.refresh_from_db()
    return code_for(device.bin_key, after_step=device.last_t)[0]


def log_in(client, username, password=TEST_PASSWORD, **extra):
    """Sign in through the real login form; returns the answer (302 onwards on success)."""
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def counter(client, name, **labels):
    scrape = client.get(reverse("metrics"))
    assert scrape.status_code == 200
    return sum(sample.value for family in text_string_to_metric_families(scrape.content.decode())
               for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def recovery_codes_on(html):
    return re.findall(r'<code class="fs-5 user-select-all">([0-9a-z]{5}-[0-9a-z]{5})</code>', unescape(html))
