"""The load-and-fault run's users (locust) and its library-mode runner: `python tests/scale/locustfile.py CONFIG`.

CONFIG (JSON, written by tests/scale/load.py) holds the host, one account per user (username, password, role,
and an optional TOTP key), the secrets to rotate, think times, a stop file and where to write the results.
Everything goes through the real pages and forms, CSRF tokens included:

  viewer    browses the inventory (lists, searches, filters, pages, a secret's page), the dashboard and the
            rotation list
  auditor   filters the audit log (event type, actor, outcome, secret, details, time) and opens an event
  operator  takes the next secret off the shared list, finds it with the inventory search, opens its page and
            files a rotation request through the form there; browses when the list is empty
  approver  opens the approval queue and approves one of the requests on it; two approvers picking the same
            request happens (the second is told it can no longer be decided, 400) and is counted apart

The runner spawns every user at once, runs until the stop file appears (the caller writes it once every
rotation has finished) or max_seconds pass, lets each user finish its task, and writes every request's
response time and status per name, the failures and the counters to the results file.
"""
import json
import random
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import gevent
from locust import FastHttpUser, between, events, task  # importing locust applies gevent's monkey patching
from locust.env import Environment
from locust.exception import StopUser

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SECRET_LINK = re.compile(r'href="(/inventory/[0-9a-f-]{36}/)"')
DECIDE_FORM = re.compile(r'action="(/rotations/[0-9a-f-]{36}/decide/)"')
EVENT_LINK = re.compile(r'href="(/audit/[0-9a-f-]{36}/)"')
RUN_PAGE = re.compile(r"/rotations/[0-9a-f-]{36}/")  # where a filed request or a decision lands
LOST_RACE = ("can no longer be decided", "already decided")
EVENT_TYPES = ("rotation.step_finished", "rotation.requested", "rotation.approved", "secret.rotation", "auth.login")


class Run:
    """What every user shares: the accounts not yet taken, the secrets not yet requested, and the tallies."""

    config = {}
    accounts = {}
    to_request = []
    counts = {"logins": 0, "second_factors": 0, "requested": 0, "approved": 0, "lost_races": 0}
    samples, statuses, failures = {}, {}, []


@events.request.add_listener
def record(request_type, name, response_time, response, exception, **_):
    status = getattr(response, "status_code", 0) or 0
    Run.samples.setdefault(name, []).append(round(response_time, 2))
    by_status = Run.statuses.setdefault(name, {})
    by_status[str(status)] = by_status.get(str(status), 0) + 1
    if exception is not None and len(Run.failures) < 50:
        Run.failures.append(f"{request_type} {name}: {status} {str(exception)[:200]}")


def csrf_token(text):
    found = CSRF.search(text)
    return found.group(1) if found else ""


def complete_second_factor(user):
    """The second factor at sign-in, for the accounts that must pass it (the Approvers), kept to this function.

    The setup gave such an account the key (hex) of a confirmed TOTP device (load.second_factor_key): open the
    verify page (`otp_path`), post the current code of django_otp.oath.TOTP on that key with the page's CSRF
    token, and expect the redirect of a verified session."""
    key = user.account.get("otp_key")
    if not key:
        return
    from django_otp.oath import TOTP  # pure Python: no Django set-up in this process

    page = user.client.get(Run.config["otp_path"] + "?next=/", name="second factor page")
    code = f"{TOTP(bytes.fromhex(key)).token():06d}"
    with user.client.post(Run.config["otp_path"] + "?next=/", allow_redirects=False, name="second factor",
                          catch_response=True, data={"csrfmiddlewaretoken": csrf_token(page.text), "code": code}
                          ) as answer:
        if answer.status_code != 302:
            answer.failure(f"the second factor was refused ({answer.status_code})")
            raise StopUser()
    Run.counts["second_factors"] += 1


class Member(FastHttpUser):
    abstract = True
    role = ""

    def on_start(self):
        self.account = Run.accounts[self.role].pop()
        self.number = len(Run.accounts[self.role])
        self.secrets = []  # secret pages seen in the last inventory list
        page = self.client.get("/accounts/login/", name="login page")
        with self.client.post("/accounts/login/", allow_redirects=False, name="login", catch_response=True, data={
                "csrfmiddlewaretoken": csrf_token(page.text), "username": self.account["username"],
                "password": self.account["password"]}) as answer:
            if answer.status_code != 302:
                answer.failure(f"sign-in refused ({answer.status_code})")
                raise StopUser()
        Run.counts["logins"] += 1
        complete_second_factor(self)

    def submit(self, action, page, name, **fields):
        """Post a form of `page` (with its CSRF token) and follow the redirect to the run's page, as a browser does.
        "done"; "lost race" for an approval another approver made first (a 400 that says so); else None (failed)."""
        with self.client.post(action, allow_redirects=False, name=name, catch_response=True,
                              data={"csrfmiddlewaretoken": csrf_token(page.text), **fields}) as answer:
            location = answer.headers.get("Location", "") if answer.status_code == 302 else ""
            if name == "approve" and answer.status_code == 400 and any(text in answer.text for text in LOST_RACE):
                answer.request_meta["name"] = "approve (lost race)"
                answer.success()
                return "lost race"
            if not RUN_PAGE.fullmatch(location):
                answer.failure(f"{name}: answered {answer.status_code} {location}".strip())
                return None
        self.client.get(location, name="rotation page")
        return "done"

    def inventory(self, query=None):
        page = self.client.get("/inventory/" + (f"?{urlencode(query)}" if query else ""), name="inventory")
        self.secrets = SECRET_LINK.findall(page.text) or self.secrets
        return page

    def browse(self):
        choice = random.random()
        if choice < 0.45:
            self.inventory(random.choice([None, {"page": 2}, {"sort": "name"}, {"status": "active"},
                                          {"rotation": "never"}, {"sort": "-last_rotated"}]))
        elif choice < 0.7:
            self.inventory({"q": f"svc-{random.randrange(25):02d}"})
        elif choice < 0.85 and self.secrets:
            self.client.get(random.choice(self.secrets), name="secret page")
        elif choice < 0.93:
            self.client.get("/", name="home")
        else:
            self.client.get("/rotations/?" + urlencode({"state": random.choice(["open", "running", "finished"])}),
                            name="rotation list")


class Viewer(Member):
    role = "viewer"

    @task
    def browse_inventory(self):
        self.browse()


class Auditor(Member):
    role = "auditor"

    @task(5)
    def filter_audit_log(self):
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        query = random.choice([{}, {"event_type": random.choice(EVENT_TYPES)}, {"actor": "scale-op"},
                               {"outcome": "success", "secret_name": f"svc-{random.randrange(25):02d}"},
                               {"q": random.choice(["staging", "promoting", "revoking_old"])}, {"since": today},
                               {"event_type": "rotation.approved", "outcome": "failure"}])
        page = self.client.get("/audit/" + (f"?{urlencode(query)}" if query else ""), name="audit log")
        links = EVENT_LINK.findall(page.text)
        if links and random.random() < 0.3:
            self.client.get(random.choice(links), name="audit event")

    @task(1)
    def browse_inventory(self):
        self.browse()


class Operator(Member):
    role = "operator"

    @task
    def request_rotation(self):
        if not Run.to_request:
            return self.browse()
        name = Run.to_request.pop()
        found = SECRET_LINK.findall(self.inventory({"q": name}).text)
        if len(found) != 1:
            Run.to_request.insert(0, name)  # another pass; the search's failure is on record
            return None
        page = self.client.get(found[0], name="secret page")
        action = found[0].replace("/inventory/", "/rotations/secret/") + "request/"
        if f'action="{action}"' not in page.text:
            Run.failures.append(f"no request form on the page of {name}")
            return None
        if self.submit(action, page, "request rotation", reason=f"load run: rotate {name}") == "done":
            Run.counts["requested"] += 1
        else:
            Run.to_request.insert(0, name)
        return None


class Approver(Member):
    role = "approver"

    @task
    def approve_one(self):
        queue = self.client.get("/rotations/approvals/", name="approval queue")
        actions = DECIDE_FORM.findall(queue.text)
        if not actions:
            return self.browse()
        # Each approver takes the n-th oldest request it is shown, n its own number: approvers share out a long queue
        # as people do, and race one another only over a short one.
        outcome = self.submit(actions[self.number % len(actions)], queue, "approve", decision="approve", comment="")
        if outcome == "done":
            Run.counts["approved"] += 1
        elif outcome == "lost race":
            Run.counts["lost_races"] += 1
        return None


def main(config_path):
    config = json.loads(Path(config_path).read_text())
    Run.config, Run.to_request = config, list(reversed(config["rotate"]))
    classes = {"viewer": Viewer, "auditor": Auditor, "operator": Operator, "approver": Approver}
    for role, user_class in classes.items():
        Run.accounts[role] = [a for a in config["accounts"] if a["role"] == role]
        user_class.fixed_count = len(Run.accounts[role])
        low, high = config["think_seconds"][role]
        user_class.wait_time = between(low, high)
    users = len(config["accounts"])
    environment = Environment(user_classes=list(classes.values()), host=config["host"], events=events,
                              stop_timeout=config["stop_timeout"])
    runner = environment.create_local_runner()
    began = time.monotonic()
    runner.start(users, spawn_rate=users)
    stop_file, deadline = Path(config["stop_file"]), began + config["max_seconds"]
    while not stop_file.exists() and time.monotonic() < deadline:
        gevent.sleep(0.1)
    timed_out = not stop_file.exists()
    runner.stop()  # each user finishes its task (stop_timeout), so every decision posted is counted
    runner.quit()
    Path(config["results_file"]).write_text(json.dumps({
        "seconds": time.monotonic() - began, "timed_out": timed_out, "users": users, "counts": Run.counts,
        "left_to_request": len(Run.to_request), "samples": Run.samples, "statuses": Run.statuses,
        "failures": Run.failures,
        "errors": {f"{e.method} {e.name}: {e.error}"[:300]: e.occurrences for e in runner.stats.errors.values()},
    }))


if __name__ == "__main__":
    main(sys.argv[1])
