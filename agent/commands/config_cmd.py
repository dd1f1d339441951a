"""``kitchen-agent config init|check|show|schema``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from agent.cli_support import add_config_flag, add_json_flag, config_path, emit, print_json
from agent.config import config_hash, config_json_schema, load_config
from agent.config.model import AgentConfig
from agent.config.render import full_data, render_yaml, validate_assignments
from agent.errors import ConfigError, UsageError
from agent.kcp import CATALOGUE, CODES
from agent.persist import PUBLIC_MODE, atomic_write_text
from agent.secrets import (
    CAMERA_PASSWORD,
    MQTT_PASSWORD,
    STREAM_TOKEN,
    CredentialStore,
    SecretState,
    credentials_dir,
)


def register(subparsers: Any) -> None:
    config = subparsers.add_parser(
        "config", help="provision, validate and inspect the configuration"
    )
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    init = actions.add_parser(
        "init",
        help="write a complete, commented, valid config (for flashing scripts)",
        description="Write a complete, commented config atomically (mode 0640). Refuses to "
        "overwrite an existing file without --force.",
    )
    init.add_argument("--store-id", required=True, help="store id slug, e.g. sh-xh-0001")
    init.add_argument("--store-name", required=True, help="store name (单位名称)")
    init.add_argument("--licence-number", required=True, help="food business licence number")
    init.add_argument(
        "--district",
        required=True,
        help="district slug from the programme's table, e.g. xuhui, pudong, jingan",
    )
    init.add_argument("--address", required=True, help="store address (地址)")
    init.add_argument(
        "--expected-completion",
        default=None,
        metavar="YYYY-MM",
        help="month the store is expected to be completed (预计完成时间, annex 4)",
    )
    init.add_argument("--broker", required=True, metavar="URL", help="mqtt:// or mqtts:// URL")
    init.add_argument(
        "--kcp",
        required=True,
        metavar="CODE[,CODE...]",
        help=f"declared key control points: {', '.join(CODES)}",
    )
    init.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="dotted.key=VALUE",
        help="set any other key (repeatable), e.g. --set streams.max_kbps=384",
    )
    init.add_argument("--output", required=True, type=Path, metavar="PATH")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_json_flag(init)
    init.set_defaults(handler=run_init)

    check = actions.add_parser("check", help="validate a config file (exit 78 when invalid)")
    add_config_flag(check)
    add_json_flag(check)
    check.set_defaults(handler=run_check)

    show = actions.add_parser(
        "show", help="print the effective config with defaults (secrets are never shown)"
    )
    add_config_flag(show)
    add_json_flag(show)
    show.set_defaults(handler=run_show)

    schema = actions.add_parser("schema", help="print the JSON Schema of the config")
    schema.add_argument("--output", type=Path, metavar="PATH", help="write to a file")
    schema.set_defaults(handler=run_schema)


def build_initial_config(args: argparse.Namespace) -> AgentConfig:
    kcps = [code.strip() for code in str(args.kcp).split(",") if code.strip()]
    data: dict[str, Any] = {
        "store": {
            "id": args.store_id,
            "name": args.store_name,
            "licence_number": args.licence_number,
            "district": args.district,
            "address": args.address,
            "expected_completion": args.expected_completion,
            "kcps": kcps,
        },
        "broker": {"url": args.broker},
    }
    return validate_assignments(data, list(args.set))


def run_init(args: argparse.Namespace) -> int:
    output: Path = args.output
    if output.exists() and not args.force:
        raise UsageError(f"{output} exists; pass --force to overwrite it")
    config = build_initial_config(args)
    text = render_yaml(full_data(config))
    atomic_write_text(output, text, mode=0o640)
    emit(
        args,
        {"ok": True, "path": str(output), "config_hash": config_hash(config)},
        f"wrote {output} (store {config.store.id}, config {config_hash(config)})",
    )
    return 0


def _credentials(config: AgentConfig) -> CredentialStore:
    return CredentialStore(credentials_dir(config.paths.credentials_dir))


def _warnings(config: AgentConfig, store: CredentialStore) -> list[str]:
    warnings = []
    if config.broker.username and store.state(MQTT_PASSWORD) is not SecretState.PRESENT:
        warnings.append(
            f"broker.username is set but the credential {MQTT_PASSWORD} is "
            f"{store.describe(MQTT_PASSWORD)}"
        )
    ingest = config.streams.ingest_url or ""
    if "{token}" in ingest and store.state(STREAM_TOKEN) is not SecretState.PRESENT:
        warnings.append(
            f"streams.ingest_url uses {{token}} but the credential {STREAM_TOKEN} is "
            f"{store.describe(STREAM_TOKEN)}"
        )
    if store.state(CAMERA_PASSWORD) is not SecretState.PRESENT:
        warnings.append(f"the credential {CAMERA_PASSWORD} is {store.describe(CAMERA_PASSWORD)}")
    declared = set(config.store.kcps)
    assigned = {a.kcp for cam in config.cameras.enrolled for a in cam.kcps}
    for kcp in sorted(declared - assigned):
        warnings.append(
            f"key control point {kcp} ({CATALOGUE[kcp].name_zh}) has no camera assigned yet"
        )
    return warnings


def run_check(args: argparse.Namespace) -> int:
    path = config_path(args)
    try:
        config = load_config(path)
    except ConfigError as error:
        if args.json:
            print_json(
                {
                    "ok": False,
                    "path": str(path),
                    "error": error.to_dict(),
                    "problems": error.problems,
                }
            )
            return int(error.exit_code)
        raise
    warnings = _warnings(config, _credentials(config))
    summary = (
        f"{path}: OK — store {config.store.id} {config.store.name}, "
        f"{len(config.store.kcps)} key control points, "
        f"{len(config.cameras.enrolled)} enrolled cameras, config {config_hash(config)}"
    )
    emit(
        args,
        {"ok": True, "path": str(path), "config_hash": config_hash(config), "warnings": warnings},
        "\n".join([summary, *(f"warning: {w}" for w in warnings)]),
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    path = config_path(args)
    config = load_config(path)
    data = full_data(config)
    store = _credentials(config)
    credentials = {
        "directory": str(store.directory),
        **{name: store.describe(name) for name in store.names()},
    }
    if args.json:
        print_json(
            {
                "path": str(path),
                "config_hash": config_hash(config),
                "config": data,
                "credentials": credentials,
            }
        )
    else:
        text = render_yaml(data)
        header = [f"# effective config of {path} ({config_hash(config)})", "# credentials:"]
        header += [f"#   {k}: {v}" for k, v in credentials.items()]
        sys.stdout.write("\n".join(header) + "\n" + text)
    return 0


def run_schema(args: argparse.Namespace) -> int:
    text = json.dumps(config_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        atomic_write_text(args.output, text, mode=PUBLIC_MODE)
    else:
        os.write(1, text.encode("utf-8"))
    return 0
