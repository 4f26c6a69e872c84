"""AWS Secrets Manager for the contract suite: moto in server mode behind a fault-injecting proxy."""
import json

from moto.server import ThreadedMotoServer

from providers.adapters.aws import AwsCredentials, AwsSecretsConfig, AwsSecretsManager
from tests.conftest import free_port
from tests.providers.conftest import FAST_POLICY, ProviderUnderTest
from tests.servers.fault_proxy import FaultProxy

# What AWS's JSON protocol answers for each fault (most client errors are HTTP 400 with a __type).
AWS_ERRORS = {
    401: (400, "UnrecognizedClientException", "The security token included in the request is invalid."),
    403: (400, "AccessDeniedException", "User is not authorized to perform this action"),
    404: (400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."),
    429: (400, "ThrottlingException", "Rate exceeded"),
    500: (500, "InternalServiceError", "An error occurred on the server side."),
    503: (503, "ServiceUnavailable", "Service unavailable"),
}
TEST_KEYS = AwsCredentials("testing", "testing")  # moto's documented dummy keys
BAD_KEY_ID = "AKIDREJECTEDBYPROXY"


def render_error(status):
    http_status, code, message = AWS_ERRORS[status]
    body = json.dumps({"__type": code, "message": message}).encode()
    return http_status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", "fault")], body


def reject_bad_keys(headers):
    return 401 if f"Credential={BAD_KEY_ID}/" in headers.get("Authorization", "") else None


def start(tmp_dir):
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    proxy = FaultProxy(port, render_error, auth_check=reject_bad_keys)

    def make_adapter(bad_credentials=False, endpoint=proxy.url):
        keys = AwsCredentials(BAD_KEY_ID, "wrong") if bad_credentials else TEST_KEYS
        return AwsSecretsManager(AwsSecretsConfig(region="us-east-1", endpoint_url=endpoint), keys, FAST_POLICY)

    def stop():
        proxy.stop()
        moto.stop()

    under_test = ProviderUnderTest(
        kind="aws", make_adapter=make_adapter, faults=proxy.faults,
        unreachable_adapter=lambda: make_adapter(endpoint=f"http://127.0.0.1:{free_port()}"),
        name=lambda base: base, invalid_name="bad name with spaces!", list_page_limit=100, stop=stop,
    )
    under_test.proxy_url = proxy.url
    return under_test
