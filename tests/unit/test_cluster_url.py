"""Cluster URLs: which nodes they name (pure: no client is opened)."""

from __future__ import annotations

import pytest

from worker.errors import ConfigError
from worker.queue.connection import (
    cluster_credentials,
    cluster_nodes,
    is_cluster_url,
    redact_url,
)


def test_a_cluster_url_names_every_node_and_hides_its_password() -> None:
    url = "rediss+cluster://user:s3cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002"
    assert is_cluster_url(url) and not is_cluster_url("redis://10.0.0.1:6379/0")
    assert cluster_nodes(url) == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002)]
    assert "s3cret" not in redact_url(url)


def test_a_node_without_port_is_refused_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        cluster_nodes("redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2")
    assert "'10.0.0.2'" in str(caught.value) and "s3cret" not in str(caught.value)


def test_cluster_credentials_come_from_the_first_node_and_tls_from_the_scheme() -> None:
    url = "rediss+cluster://bob:p%40ss@10.0.0.1:7000,10.0.0.2:7001"
    assert cluster_credentials(url) == {"username": "bob", "password": "p@ss", "ssl": True}
    assert cluster_credentials("redis+cluster://10.0.0.1:7000") == {
        "username": None,
        "password": None,
        "ssl": False,
    }
