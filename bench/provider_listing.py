"""Listing throughput of the AWS and Vault adapters against the raw SDK, over real HTTP to real local servers.

Each figure starts its own server on a free loopback port (no fault proxy in between), seeds it, then times a
full listing alternately through the raw SDK and through the adapter (raw, adapter, raw, adapter, raw, adapter),
so that warm-up and server-side caching favour neither; value and baseline are the medians of the three runs.

  aws_list_N     moto's ThreadedMotoServer in this process, N secrets (10,000). Value: secrets/s through
                 `AwsSecretsManager.list_secrets(page_size=100)`, every page consumed; baseline: boto3's own
                 `get_paginator("list_secrets")` with PageSize 100 on a plain client for the same endpoint.
  vault_list_N   the OpenBao dev server (tests.servers.openbao), N KV v2 paths (5,000) of one key each. Value:
                 secrets/s through `VaultSecretManager.list_secrets(page_size=100)`; baseline: hvac doing what
                 the adapter does on the wire (a recursive list walk and, per leaf, read_secret_metadata plus
                 read_secret_version of the latest version), in pages of 100 (name, metadata) pairs.

Client CPU is the listing thread's own CPU time (`time.thread_time`): moto answers on its own threads and OpenBao
in its own process, so it excludes the server. BENCH_PROVIDER_SCALE (a float, default 1) scales N.
"""
import logging
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from bench._server import free_port, workdir

AWS_SECRETS = 10_000
VAULT_PATHS = 5_000
PAGE_SIZE = 100
ROUNDS = 3
SEED_THREADS = 4
GOAL = 0.9
REGION = "us-east-1"
TEST_KEY = "testing"  # moto's documented dummy credentials
MOUNT = "secret"


def scaled(n):
    scale = float(os.environ.get("BENCH_PROVIDER_SCALE") or 1)
    return max(1, int(n * scale))


def _alternate(raw, adapter, expected):
    """Time raw() and adapter() alternately ROUNDS times each; each returns how many secrets it listed."""
    samples = {"raw": [], "adapter": [], "load": [os.getloadavg()[0]]}
    for _ in range(ROUNDS):
        for label, listing in (("raw", raw), ("adapter", adapter)):
            wall, cpu = time.perf_counter(), time.thread_time()
            count = listing()
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            if count != expected:
                raise SystemExit(f"bench: the {label} listing saw {count} secrets, expected {expected}")
            samples[label].append((wall, cpu))
    samples["load"].append(os.getloadavg()[0])
    return samples


def _figure(metric, samples, expected, note):
    raw_wall = statistics.median(wall for wall, _ in samples["raw"])
    adapter_wall = statistics.median(wall for wall, _ in samples["adapter"])

    def runs(label):
        walls = ", ".join(f"{wall:.2f}" for wall, _ in samples[label])
        cpu = statistics.median(cpu for _, cpu in samples[label])
        return f"{label} runs {walls} s (median client CPU {cpu:.2f} s)"

    return {
        "metric": metric, "value": round(expected / adapter_wall, 1), "unit": "secrets/s",
        "baseline": round(expected / raw_wall, 1),
        "note": (f"goal >= {GOAL}; {note}; {runs('raw')}; {runs('adapter')}; 1-minute load average "
                 f"{samples['load'][0]:.1f} before and {samples['load'][1]:.1f} after the timed runs "
                 f"({os.cpu_count()} CPUs)"),
    }


# ---------------------------------------------------------------- AWS Secrets Manager (moto)


def _fast_moto_lookups():
    """Answer moto's by-name secret lookups from the dict itself, so that seeding is not O(N^2).

    moto's SecretsStore scans every secret for `in`, [] and get, and the scan races with concurrent inserts
    ("dictionary changed size during iteration", a 500). A key that is not an ARN can only match by name, the
    dict's own key. ListSecrets is untouched: its cost (every secret's dict built for each page) is moto's.
    """
    from moto.secretsmanager.models import SecretsStore

    if getattr(SecretsStore, "_bench_by_name", False):
        return
    scan = {name: getattr(SecretsStore, name) for name in ("__getitem__", "__contains__", "get")}

    def getitem(self, key):
        return scan["__getitem__"](self, key) if key.startswith("arn:") else dict.__getitem__(self, key)

    def contains(self, key):
        return scan["__contains__"](self, key) if key.startswith("arn:") else dict.__contains__(self, key)

    def get(self, key):
        return scan["get"](self, key) if key.startswith("arn:") else dict.get(self, key)

    SecretsStore.__getitem__, SecretsStore.__contains__, SecretsStore.get = getitem, contains, get
    SecretsStore._bench_by_name = True


def _boto3_client(endpoint, **config):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()  # one per thread: sessions are not thread-safe
    return session.client("secretsmanager", region_name=REGION, endpoint_url=endpoint, aws_access_key_id=TEST_KEY,
                          aws_secret_access_key=TEST_KEY, config=Config(**config))


def _seed_aws(endpoint, count):
    def worker(offset):
        client = _boto3_client(endpoint, retries={"total_max_attempts": 5, "mode": "standard"})
        for i in range(offset, count, SEED_THREADS):
            client.create_secret(Name=f"bench/app-{i // 100:03d}/secret-{i:05d}", SecretString=f"bench-value-{i}",
                                 Tags=[{"Key": "team", "Value": f"app-{i // 100:03d}"}])

    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        for future in [pool.submit(worker, offset) for offset in range(SEED_THREADS)]:
            future.result()


def aws_figure():
    import requests
    from moto.server import ThreadedMotoServer

    from providers.adapters.aws import AwsCredentials, AwsSecretsConfig, AwsSecretsManager

    began, count = time.perf_counter(), scaled(AWS_SECRETS)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on stderr
    _fast_moto_lookups()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        seeding = time.perf_counter()
        _seed_aws(endpoint, count)
        seeding = time.perf_counter() - seeding
        adapter = AwsSecretsManager(AwsSecretsConfig(region=REGION, endpoint_url=endpoint),
                                    AwsCredentials(TEST_KEY, TEST_KEY))
        raw_client = _boto3_client(endpoint)

        def raw():
            pages = raw_client.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": PAGE_SIZE})
            return sum(len(page["SecretList"]) for page in pages)

        def through_adapter():
            return sum(len(page) for page in adapter.list_secrets(page_size=PAGE_SIZE))

        samples = _alternate(raw, through_adapter, count)
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=30)  # free the seeded secrets
        moto.stop()
    return _figure(f"aws_list_{count}", samples, count, (
        f"{count:,} secrets, pages of {PAGE_SIZE}; baseline: a plain boto3 client's list_secrets paginator on the "
        f"same endpoint; moto (ThreadedMotoServer, stock ListSecrets, which builds every secret for each page) "
        f"serves from this process; seeding took {seeding:.1f} s ({SEED_THREADS} threads, one boto3 client each); "
        f"figure took {time.perf_counter() - began:.0f} s"
    ))


# ---------------------------------------------------------------- Vault / OpenBao


def _seed_vault(url, token, count):
    import hvac

    def worker(offset):
        kv = hvac.Client(url=url, token=token).secrets.kv.v2  # one client (one requests session) per thread
        for i in range(offset, count, SEED_THREADS):
            kv.create_or_update_secret(f"bench/app-{i // 100:03d}/secret-{i:05d}",
                                       secret={"password": f"bench-value-{i}"}, mount_point=MOUNT)

    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        for future in [pool.submit(worker, offset) for offset in range(SEED_THREADS)]:
            future.result()


def _raw_vault_pages(kv, page_size):
    """What VaultSecretManager.list_secrets does on the wire, with hvac alone: pages of (name, metadata)."""

    def walk(prefix):
        for entry in kv.list_secrets(prefix, mount_point=MOUNT)["data"]["keys"]:
            if entry.endswith("/"):
                yield from walk(prefix + entry)
            else:
                yield prefix + entry

    page = []
    for path in walk(""):
        metadata = kv.read_secret_metadata(path, mount_point=MOUNT)["data"]
        data = kv.read_secret_version(path, mount_point=MOUNT, raise_on_deleted_version=True)["data"]["data"]
        for key in data:
            page.append((f"{path}#{key}", metadata))
            if len(page) >= page_size:
                yield page
                page = []
    if page:
        yield page


def vault_figure():
    import hvac

    from providers.adapters.vault import VaultConfig, VaultSecretManager
    from tests.servers.openbao import OpenBaoServer

    began, count = time.perf_counter(), scaled(VAULT_PATHS)
    with workdir() as path:
        server = OpenBaoServer(free_port(), path / "bao.log")
        try:
            seeding = time.perf_counter()
            _seed_vault(server.url, server.root_token, count)
            seeding = time.perf_counter() - seeding
            adapter = VaultSecretManager(VaultConfig(address=server.url, token=server.root_token))
            kv = hvac.Client(url=server.url, token=server.root_token).secrets.kv.v2

            def raw():
                return sum(len(page) for page in _raw_vault_pages(kv, PAGE_SIZE))

            def through_adapter():
                return sum(len(page) for page in adapter.list_secrets(page_size=PAGE_SIZE))

            samples = _alternate(raw, through_adapter, count)
        finally:
            server.stop()
    folders = (count + 99) // 100
    return _figure(f"vault_list_{count}", samples, count, (
        f"{count:,} KV v2 paths of one key in {folders} folders, pages of {PAGE_SIZE}; baseline: hvac alone doing "
        f"the adapter's requests ({folders + 1} LIST walking the folders, then per path read_secret_metadata and "
        f"read_secret_version of the latest version: {2 * count + folders + 1:,} requests per listing), yielding "
        f"(name, metadata) pairs; OpenBao dev server (in-memory) in its own process; seeding took {seeding:.1f} s "
        f"({SEED_THREADS} threads, one hvac client each); figure took {time.perf_counter() - began:.0f} s"
    ))


def run():
    yield aws_figure()
    yield vault_figure()
