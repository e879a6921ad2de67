"""What Pigsty's releases write, and how pigsalt reads it.

Three things live here, all pure:

- the names of every Pigsty parameter of releases 1.0 through 3.x that pigsalt does not implement
  (accepted, reported once per group, ignored), and the prefixes of Pigsty's other modules
  (redis, minio, mongo/ferret, kafka, docker, …) whose groups pigsalt does not deploy;
- which release's *meaning* a file has (``release``): the same names mean different things in
  v1 and v2+ (``pg_services`` is the whole list in v1 and the extra services in v2+;
  ``pg_hba_rules`` is appended to the template's fixed rules in v1 and to
  ``pg_default_hba_rules`` in v2+; ``vip_*`` is the Postgres VIP in v1 and the node's keepalived
  VIP in v2+);
- value normalisations applied before validation (``normalize``): ``${admin_ip}``,
  ``pg_conf: oltp.yml``, GRANT lines aligned in columns, an empty ``node_timezone``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pigsalt.inventory.schema import Problem, join

# Releases whose parameters mean the same thing are one "release" here: 1 is Pigsty 1.x,
# 2 is Pigsty 2.x and 3.x.
V1, V2 = 1, 2

# What tells a v1 file from a v2+ one (``markers``): the names only one side's releases have
# (the catalogue, pigsalt/data/pigsty-params.json) that pigsalt does not implement, and these
# of pigsalt's own parameters, whose meaning is one side's. pigsalt's other parameters mean the
# same in every release, and its own inventories mix them with v1's layout.
V2_PARAM_MARKERS = frozenset(
    """
    pg_default_services pg_default_service_dest pg_default_hba_rules pgb_default_hba_rules pgb_hba_rules
    pg_vip_enabled pg_vip_address pg_vip_interface infra_seq etcd_seq etcd_cluster
    """.split()
)
V1_PARAM_MARKERS = frozenset(
    """
    pg_services_extra pg_hba_rules_extra pgbouncer_hba_rules pgbouncer_hba_rules_extra vip_mode vip_cidrmask
    dcs_type dcs_servers
    """.split()
)
V2_GROUPS = ("infra", "etcd")
V1_GROUPS = ("meta",)

# Pigsty's other modules: a group whose parameters carry one of these prefixes is that module's.
OTHER_MODULES: Mapping[str, str] = {
    "redis_": "redis",
    "minio_": "minio",
    "mongo_": "mongo/ferret",
    "ferret_": "mongo/ferret",
    "kafka_": "kafka",
    "docker_": "docker",
    "kube_": "kubernetes",
    "k8s_": "kubernetes",
    "juice_": "juicefs",
    "mysql_": "mysql",
    "supa_": "supabase",
    "vibe_": "vibe",
    "gp_": "greenplum",
    "consul_": "consul",
    "pgadmin_": "pgadmin",
    "app_": "app",
}

# Every Pigsty parameter of releases 1.0 to 3.x that pigsalt knows by name and does not implement
# (the other modules' are recognised by their prefix above).
UNIMPLEMENTED = frozenset(
    """
    version region os_version proxy_env ca_subject ca_homedir ca_cert ca_key
    infra_portal infra_packages infra_packages_pip repo_enabled repo_address repo_home repo_rebuild
    repo_remove repo_upstreams repo_upstream repo_packages repo_extra_packages repo_url_packages
    repo_modules repo_endpoint nginx_enabled nginx_exporter_enabled nginx_sslmode nginx_port
    nginx_ssl_port nginx_home nginx_upstream nginx_upstreams nginx_indexes nginx_links nginx_navbar
    nameserver_enabled dnsmasq_enabled dns_enabled dns_port prometheus_enabled prometheus_clean
    prometheus_data_dir prometheus_reload prometheus_sd_method
    prometheus_sd_dir prometheus_metrics_path
    pushgateway_enabled pushgateway_options blackbox_enabled blackbox_options exporter_install
    exporter_repo_url exporter_metrics_path alertmanager_enabled alertmanager_options
    grafana_enabled grafana_clean grafana_endpoint grafana_database grafana_pgurl grafana_plugin_method
    grafana_plugin_cache grafana_plugin_list grafana_plugin_git grafana_plugins grafana_git_plugins
    grafana_cache grafana_customize grafana_url loki_enabled loki_endpoint loki_clean loki_options
    loki_data loki_data_dir loki_retention service_registry dcs_exists_action dcs_disable_purge
    dcs_safeguard dcs_clean dcs_registry etcd_safeguard etcd_clean etcd_data
    etcd_port etcd_peer_port etcd_init etcd_election_timeout etcd_heartbeat_interval etcd_api
    jupyter_enabled jupyter_username jupyter_password pgweb_enabled pgweb_username meta_node
    node_cluster nodename_overwrite nodename_exchange node_id_from_pg node_etc_hosts
    node_etc_hosts_default node_default_etc_hosts node_write_etc_hosts node_dns_method node_dns_options
    node_dns_hosts node_dns_server node_repo_method node_repo_remove node_repo_local_urls
    node_repo_modules node_local_repo_url node_packages node_extra_packages node_meta_packages
    node_meta_pip_install node_packages_meta node_packages_meta_pip node_default_packages
    node_disable_firewall node_disable_selinux node_disable_numa node_disable_swap node_static_network
    node_disk_prefetch node_kernel_modules node_hugepage_count node_hugepage_ratio node_overcommit_ratio
    node_sysctl_params node_data_dir node_data node_admin_ssh_exchange node_admin_pk_current
    node_aliases node_ntp_enabled node_ntp_service node_ntp_config node_crontab_overwrite
    node_exporter_enabled node_exporter_options node_selinux_mode vip_enabled vip_vrid vip_role vip_preempt
    vip_dns_suffix
    vip_exporter_port vip_auth_pass haproxy_clean haproxy_reload haproxy_auth_enabled
    haproxy_admin_auth_enabled haproxy_exporter_port haproxy_service haproxy_services promtail_enabled
    promtail_clean promtail_port promtail_options promtail_positions pg_mode pg_shard pg_sindex pg_group
    gp_role pg_instances pg_exporters pg_upstream pg_backup pg_hostname pg_preflight_skip
    pg_dbsu_password pg_dbsu_uid pg_dbsu_sudo pg_dbsu_home pg_dbsu_ssh_exchange pgdg_repo pg_add_repo
    pg_bin_dir pg_log_dir pg_home pg_packages pg_extensions pg_exists pg_exists_action
    pg_disable_purge pg_safeguard pg_clean pg_fs_main pg_fs_bkup pg_storage_type pg_dummy_filesize
    pg_localhost pg_delay pg_namespace patroni_enabled patroni_mode
    patroni_ssl_enabled patroni_log_dir pg_primary_db pg_files pg_max_conn pg_shared_buffer_ratio
    pg_checksum pg_pwd_enc pg_sync_mode pg_io_method pg_provision pg_init pg_default_roles
    pg_default_schemas pg_default_extensions pg_reload pg_service_provider pg_dns_suffix pg_dns_target
    pg_exporter_enabled pg_exporter_config pg_exporter_cache_ttls pg_exporter_params pg_exporter_url
    pg_exporter_auto_discovery pg_exporter_exclude_database pg_exporter_include_database
    pg_exporter_connect_timeout pg_exporter_options pg_exporter_timeout pgbouncer_exporter_enabled
    pgbouncer_exporter_url pgbouncer_exporter_options pgbouncer_log_dir pgbouncer_auth_query
    pgbouncer_sslmode pgbouncer_ignore_param pgbackrest_clean pgbackrest_exporter_enabled
    pgbackrest_exporter_port pgbackrest_exporter_options pg_weight_default pg_key_conf vip_reload
    dns_mode dns_selector cloud_provider pg_parameters_extra pg_hba_extra node_write_hosts
    nginx_ssl_enabled alertmanager_endpoint node_packages_default pg_sslmode node_admin_sudo pg_fs_backup
    pg_spec_dir pg_cert_dir patroni_citus_db nginx_cert_validity node_id node_data_dir_bkup
    infra_conf infra_packages_default node_packages_extra repo_url_pkg repo_pkg pg_exporter_port_offset
    """.split()
)

_MISSING = object()

# Values in which Pigsty 2+ writes ``${admin_ip}``.
ADMIN_IP = "${admin_ip}"
PG_CONF_SUFFIX = ".yml"


@dataclass(frozen=True)
class Release:
    """Which Pigsty release's meaning an inventory has, and why pigsalt thinks so."""

    major: int
    reason: str


def module_of(name: str) -> str | None:
    """The Pigsty module a parameter belongs to when pigsalt does not deploy it (``redis``…)."""
    for prefix, module in OTHER_MODULES.items():
        if name.startswith(prefix):
            return module
    return None


def _mappings(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _names(raw: Mapping[str, Any]) -> Iterator[str]:
    """Every parameter name written anywhere in the inventory, and the group names."""
    top = _mappings(raw.get("all"))
    yield from map(str, _mappings(top.get("vars")))
    for name, group in _mappings(top.get("children")).items():
        yield str(name)
        group = _mappings(group)
        yield from map(str, _mappings(group.get("vars")))
        for hvars in _mappings(group.get("hosts")).values():
            yield from map(str, _mappings(hvars))


@cache
def markers() -> tuple[frozenset[str], frozenset[str]]:
    """The names (no group names) that make a file v1's, and v2+'s."""
    from pigsalt.inventory.catalogue import load
    from pigsalt.inventory.params import PARAMS

    found = load()
    v1 = (found.only_in([1]) - set(PARAMS)) | V1_PARAM_MARKERS
    v2 = (found.only_in(range(2, 100)) - set(PARAMS)) | V2_PARAM_MARKERS
    return v1, v2


def release(raw: Mapping[str, Any]) -> Release:
    """The release whose meaning the file has: its ``version``, else the names it uses.

    A file with neither (pigsalt's own layout, which is v1's: a ``meta`` group, ``vip_mode``)
    is read as v1 when it uses a v1 name and as v2+ otherwise.
    """
    version = _mappings(_mappings(raw.get("all")).get("vars")).get("version")
    if isinstance(version, str | int | float):
        found = re.match(r"v?(\d+)", str(version))
        if found:
            major = int(found.group(1))
            return Release(V1 if major <= 1 else V2, f"version: {version}")
    names = set(_names(raw))
    v1_markers, v2_markers = markers()
    v2 = sorted(names & (v2_markers | set(V2_GROUPS)))
    if v2:
        return Release(V2, f"uses {v2[0]}")
    v1 = sorted(names & (v1_markers | set(V1_GROUPS)))
    if v1:
        return Release(V1, f"uses {v1[0]}")
    return Release(V2, "no release marker")


def _privilege(line: Any) -> Any:
    return " ".join(line.split()) if isinstance(line, str) else line


def _substitute(value: Any, admin_ip: str | None, path: str, out: list[Problem]) -> Any:
    """``value`` with every ``${admin_ip}`` replaced; a new object only where something changed."""
    if isinstance(value, str):
        if ADMIN_IP not in value:
            return value
        if admin_ip is None:
            out.append(Problem(path, "uses ${admin_ip} but all.vars.admin_ip is not an IPv4 address"))
            return value
        return value.replace(ADMIN_IP, admin_ip)
    if isinstance(value, list):
        items = [_substitute(v, admin_ip, join(path, i), out) for i, v in enumerate(value)]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        pairs = {k: _substitute(v, admin_ip, join(path, k), out) for k, v in value.items()}
        return pairs if any(pairs[k] is not value[k] for k in value) else value
    return value


def _normalize_vars(values: Any, path: str, admin_ip: str | None, out: list[Problem]) -> Any:
    if not isinstance(values, dict):
        return values
    result = _substitute(values, admin_ip, path, out)
    changes: dict[str, Any] = {}
    conf = result.get("pg_conf")
    if isinstance(conf, str) and conf.endswith(PG_CONF_SUFFIX):
        changes["pg_conf"] = conf[: -len(PG_CONF_SUFFIX)]
    # YAML 1.1 reads Pigsty's unquoted `patroni_watchdog_mode: off` as false (and `on` as true).
    watchdog = result.get("patroni_watchdog_mode")
    if isinstance(watchdog, bool):
        changes["patroni_watchdog_mode"] = "automatic" if watchdog else "off"
    privileges = result.get("pg_default_privileges")
    if isinstance(privileges, list):
        lines = [_privilege(p) for p in privileges]
        if lines != privileges:
            changes["pg_default_privileges"] = lines
    return {**result, **changes} if changes else result


def normalize(raw: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Problem]]:
    """Pigsty's spellings in the form pigsalt validates; the input is never changed.

    ``${admin_ip}`` takes ``all.vars.admin_ip``; ``pg_conf: tiny.yml`` becomes ``tiny``; GRANT lines
    lose their alignment spaces; an unquoted ``patroni_watchdog_mode: off`` (YAML's false) is
    ``off``. Paths and keys stay as written, so every error still points
    into the user's file.
    """
    out: list[Problem] = []
    top = raw.get("all")
    if not isinstance(top, dict):
        return raw, out
    gvars = top.get("vars")
    admin = _mappings(gvars).get("admin_ip")
    admin_ip = admin if isinstance(admin, str) and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", admin) else None
    new_top = dict(top)
    new_top["vars"] = _normalize_vars(gvars, "all.vars", admin_ip, out)
    children = top.get("children")
    if isinstance(children, dict):
        new_children = {}
        for name, group in children.items():
            if isinstance(group, dict):
                gpath = join("all.children", name)
                group = dict(group)
                if "vars" in group:
                    group["vars"] = _normalize_vars(group["vars"], join(gpath, "vars"), admin_ip, out)
                hosts = group.get("hosts")
                if isinstance(hosts, dict):
                    group["hosts"] = {
                        ip: _normalize_vars(h, join(join(gpath, "hosts"), ip), admin_ip, out) for ip, h in hosts.items()
                    }
            new_children[name] = group
        new_top["children"] = new_children
    if "vars" not in top:
        del new_top["vars"]
    return {**raw, "all": _compact(new_top)}, out


def _compact(top: dict[str, Any]) -> dict[str, Any]:
    """Pigsty's compact layouts in the levels pigsalt reads them at: a cluster-level parameter
    (``pg_cluster``…) written in the host vars of a group whose every host has the same value is
    the group's; an instance-level one (``nodename``, ``pg_seq``…) written in the vars of a
    one-host group, or in ``all.vars`` of a one-host inventory, is that host's."""
    from pigsalt.inventory.params import CLUSTER, INSTANCE, PARAMS

    def lifted(name: str) -> bool:
        param = PARAMS.get(name)
        return param is not None and CLUSTER in param.levels and INSTANCE not in param.levels

    def lowered(name: str) -> bool:
        param = PARAMS.get(name)
        return param is not None and param.levels == (INSTANCE,)

    children = top.get("children")
    if not isinstance(children, dict):
        return top
    groups = {name: dict(g) for name, g in children.items() if isinstance(g, dict)}
    hosts_of: dict[str, dict[Any, Any]] = {n: g["hosts"] for n, g in groups.items() if isinstance(g.get("hosts"), dict)}
    for name, hosts in hosts_of.items():
        group = groups[name]
        if not isinstance(group.get("vars", {}), dict) or not all(
            h is None or isinstance(h, dict) for h in hosts.values()
        ):
            continue  # the validator says what is wrong with it, where the user wrote it
        gvars = dict(group.get("vars") or {})
        hvars = {ip: dict(_mappings(h)) for ip, h in hosts.items()}
        for key in sorted({k for h in hvars.values() for k in h if lifted(str(k))}):
            values = [h.get(key, _MISSING) for h in hvars.values()]
            if _MISSING in values or any(v != values[0] for v in values) or gvars.get(key, values[0]) != values[0]:
                continue
            gvars[key] = values[0]
            for h in hvars.values():
                del h[key]
        if len(hvars) == 1:
            (only,) = hvars.values()
            for key in [k for k in gvars if lowered(str(k)) and k not in only]:
                only[key] = gvars.pop(key)
        if gvars or "vars" in group:
            group["vars"] = gvars
        group["hosts"] = {ip: (hvars[ip] if hvars[ip] or hosts[ip] is not None else hosts[ip]) for ip in hosts}
    top_vars = top.get("vars")
    ips = {str(ip) for hosts in hosts_of.values() for ip in hosts}
    if isinstance(top_vars, dict) and len(ips) == 1 and any(lowered(str(k)) for k in top_vars):
        moving = {k: v for k, v in top_vars.items() if lowered(str(k))}
        top = {**top, "vars": {k: v for k, v in top_vars.items() if k not in moving}}
        for name, hosts in hosts_of.items():
            groups[name]["hosts"] = {ip: {**moving, **_mappings(groups[name]["hosts"][ip])} for ip in hosts}
    return {**top, "children": {**children, **groups}}


@dataclass(frozen=True)
class Vip:
    """A cluster's L2 VIP as the inventory asks for it, whichever release's names it uses.

    ``address`` is None when the switch is on but no address is given (an error for the
    validator to report on ``address_param``); ``interface`` None means "the interface that
    carries the member's address", found on the node.
    """

    address: str | None
    cidrmask: int
    interface: str | None
    address_param: str


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def vip_settings(get: Callable[[str], Any]) -> Vip | None:
    """The VIP that the values ``get`` returns ask for, or None.

    Pigsty 2+: ``pg_vip_enabled`` with ``pg_vip_address: ADDR/PREFIX`` and ``pg_vip_interface``.
    Pigsty v1 (and pigsalt's layout): ``vip_mode: l2`` with ``vip_address``, ``vip_cidrmask`` and
    ``vip_interface``. (In a Pigsty 2+ inventory ``vip_*`` without ``vip_mode`` is the node's
    keepalived VIP, which the validator reports as ignored.)
    """
    if get("pg_vip_enabled") is True:
        text = _str(get("pg_vip_address"))
        address, _, prefix = (text or "").partition("/")
        return Vip(
            address or None,
            _int(int(prefix) if prefix.isdigit() else None, 24),
            _str(get("pg_vip_interface")),
            "pg_vip_address",
        )
    if get("vip_mode") == "l2":
        return Vip(_str(get("vip_address")), _int(get("vip_cidrmask"), 24), _str(get("vip_interface")), "vip_address")
    return None
