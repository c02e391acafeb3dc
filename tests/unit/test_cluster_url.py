"""Cluster URLs: which nodes they name (pure: no client is opened)."""

from __future__ import annotations

import pytest

from worker.errors import ConfigError
from worker.queue.connection import cluster_nodes, is_cluster_url, redact_url


def test_a_cluster_url_names_every_node_and_hides_its_password() -> None:
    url = "rediss+cluster://user:s3cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002"
    assert is_cluster_url(url) and not is_cluster_url("redis://10.0.0.1:6379/0")
    assert cluster_nodes(url) == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002)]
    assert "s3cret" not in redact_url(url)


def test_a_node_without_port_is_refused_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        cluster_nodes("redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2")
    assert "'10.0.0.2'" in str(caught.value) and "s3cret" not in str(caught.value)
