"""IAM authentication to ElastiCache: the password is a presigned ``connect`` request."""

from urllib.parse import parse_qs, urlsplit

import botocore.session

from sovgw.adapters.valkey_budget import ElastiCacheIamAuth


def test_the_token_is_a_sigv4_presigned_connect_for_the_user_and_cache() -> None:
    session = botocore.session.Session()
    session.set_credentials("AKIDEXAMPLE", "secret-for-tests-only")
    auth = ElastiCacheIamAuth(
        "sovgw-eu-de-functions", "sovgw-eu-de-budget", "eu-central-1", session=session
    )
    user, token = auth.get_credentials()
    assert user == "sovgw-eu-de-functions"
    assert not token.startswith("https://") and token.startswith("sovgw-eu-de-budget/?")
    query = parse_qs(urlsplit(f"https://{token}").query)
    assert query["Action"] == ["connect"] and query["User"] == ["sovgw-eu-de-functions"]
    assert query["ResourceType"] == ["ServerlessCache"]
    assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Signature"][0]
    assert "/eu-central-1/elasticache/aws4_request" in query["X-Amz-Credential"][0]
    assert auth.get_credentials()[1] == token, "re-used until it is due for refresh"
