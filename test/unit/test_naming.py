"""Names and labels of a cluster's objects (reference §4)."""
import pytest

from dind_cluster import naming
from dind_cluster.errors import ConfigError

DEFAULT = naming.DEFAULT_DIND_LABEL


@pytest.mark.parametrize("label, cluster_id, want_label, want_id, want_suffix", [
    (None, None, DEFAULT, 0, ""),
    (None, "0", DEFAULT, 0, ""),
    ("", "", DEFAULT, 0, ""),                       # empty counts as unset (documented)
    (None, "5", "cluster-5", 5, "-cluster-5"),
    (None, "05", "cluster-5", 5, "-cluster-5"),      # normalised to decimal
    ("foo", "5", "foo-5", 5, "-foo-5"),
    (DEFAULT, None, DEFAULT, 0, ""),                 # explicit default behaves like unset
    (DEFAULT, "7", "cluster-7", 7, "-cluster-7"),
])
def test_label_and_cluster_id_give_the_final_label_id_and_suffix(
        label, cluster_id, want_label, want_id, want_suffix):
    ident = naming.resolve_identity(label, cluster_id)
    assert (ident.dind_label, ident.cluster_id, ident.suffix) == (
        want_label, want_id, want_suffix)


@pytest.mark.parametrize("cluster_id", [None, "0"])
def test_legacy_label_without_id_gets_a_stable_id_from_1_to_12(cluster_id):
    first = naming.resolve_identity("foo", cluster_id)
    again = naming.resolve_identity("foo", cluster_id)
    assert first == again
    assert first.suffix == "-foo" and first.dind_label == "foo"
    assert 1 <= first.cluster_id <= 12
    assert first.cluster_id == naming.legacy_cluster_id("foo")


def test_legacy_ids_spread_over_the_whole_range():
    ids = {naming.legacy_cluster_id(f"team{i}") for i in range(200)}
    assert ids == set(range(1, 13))


@pytest.mark.parametrize("label, cluster_id, key", [
    (None, None, "default"), (None, "10", "cluster-10"), ("foo", None, "foo"),
    ("foo", "3", "foo-3"),
])
def test_cluster_key_is_default_or_the_suffix_without_its_dash(label, cluster_id, key):
    assert naming.resolve_identity(label, cluster_id).cluster_key == key


@pytest.mark.parametrize("cluster_id", ["-1", "255", "abc", "1.5", "0x10"])
def test_cluster_id_must_be_an_integer_from_0_to_254(cluster_id):
    with pytest.raises(ConfigError) as err:
        naming.resolve_identity(None, cluster_id)
    assert err.value.variable == "CLUSTER_ID"
    assert "0 to 254" in err.value.message


@pytest.mark.parametrize("label", ["foo bar", "-foo", "a/b", "default", "cluster-3"])
def test_dind_label_that_cannot_name_containers_or_is_reserved_is_refused(label):
    with pytest.raises(ConfigError) as err:
        naming.resolve_identity(label, None)
    assert err.value.variable == "DIND_LABEL"


@pytest.mark.parametrize("suffix", ["", "-cluster-5", "-foo-3"])
def test_object_names_carry_the_suffix(suffix):
    assert naming.network_name(suffix) == f"kubeadm-dind-net{suffix}"
    assert naming.master_name(suffix) == f"kube-master{suffix}"
    assert naming.worker_name(2, suffix) == f"kube-node-2{suffix}"
    assert naming.dns64_name(suffix) == f"bind9{suffix}"
    assert naming.nat64_name(suffix) == f"tayga{suffix}"
    assert naming.context_name(suffix) == f"dind{suffix}"


def test_node_volume_is_named_after_its_container():
    assert naming.volume_name("kube-node-1-cluster-5") == "kubeadm-dind-kube-node-1-cluster-5"


def test_labels_carry_our_cluster_key_and_the_original_label_key():
    labels = naming.cluster_labels(naming.resolve_identity("foo", "3"))
    assert labels == {"dind-cluster.io/cluster": "foo-3", "foo-3": ""}
    default = naming.cluster_labels(naming.resolve_identity(None, None))
    assert default == {naming.CLUSTER_LABEL: "default", DEFAULT: ""}
    assert naming.ROLE_LABEL == "dind-cluster.io/role"


@pytest.mark.parametrize("label, cluster_id", [("", ""), ("", "10"), ("foo", ""), ("foo", "3")])
def test_context_names_lead_back_to_the_cluster_key(label, cluster_id):
    ident = naming.resolve_identity(label, cluster_id)
    context = naming.context_name(ident.suffix)
    assert naming.key_of_context(context) == ident.cluster_key
    assert naming.suffix_of_key(ident.cluster_key) == ident.suffix


@pytest.mark.parametrize("context", ["kind-foo", "dind-", "", "dindx"])
def test_names_that_are_not_our_contexts_have_no_cluster_key(context):
    assert naming.key_of_context(context) is None
