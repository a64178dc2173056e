"""The command line starts without loading the mail APIs' libraries (msal, exchangelib,
google-auth): they cost seconds to import and only sync, sending and Test & Enable use them.
tests/integration/test_worker_imports.py holds what a worker leaves out."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

VENDOR_MODULES = ("msal", "exchangelib", "googleapiclient", "google.auth", "google.oauth2")


def _modules_after(code: str) -> set[str]:
    """The modules loaded by a fresh interpreter after running ``code``."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _vendors_in(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules if any(m == v or m.startswith(f"{v}.") for v in VENDOR_MODULES)
    )


def test_importing_the_cli_loads_no_mail_api_library_nor_the_database_layer():
    modules = _modules_after("import tidings.entrypoints.cli.main")
    assert _vendors_in(modules) == []
    assert "sqlalchemy" not in modules
    assert "tidings.bootstrap" not in modules


def test_the_console_script_entry_imports_nothing_that_parse_workers_would_reload():
    # Worker processes re-import the script that started their parent; it names this module.
    modules = _modules_after("import tidings.entrypoints.cli")
    assert {m for m in modules if m.startswith("tidings")} == {
        "tidings",
        "tidings.entrypoints",
        "tidings.entrypoints.cli",
    }


def test_the_composition_root_builds_the_mail_api_adapters_only_when_first_used(tmp_path):
    modules = _modules_after(
        f"""
        from tidings.bootstrap import bootstrap
        from tidings.config import Settings
        tidings = bootstrap(Settings(database_url="sqlite:///{tmp_path}/t.db", parse_workers=1))
        tidings.close()
        """
    )
    assert "tidings.bootstrap" in modules
    assert _vendors_in(modules) == []


def test_the_mail_api_adapters_are_built_once_and_shared_on_first_use():
    modules = _modules_after(
        """
        from tidings.bootstrap import LazyMailApis
        from tidings.domain.server_profile import ServerProfileKind
        apis = LazyMailApis()
        first = apis.get(ServerProfileKind.EXCHANGE_ONLINE)
        assert apis.get(ServerProfileKind.EXCHANGE_ONLINE) is first
        """
    )
    assert "msal" in modules
    assert "exchangelib" in modules


def test_a_parse_worker_of_the_command_line_loads_the_parser_and_not_the_cli(tmp_path):
    # Started as the console script starts it: multiprocessing re-imports the parent's
    # __main__ in each worker, so what that script imports every worker pays for again.
    script = tmp_path / "tidings_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sys
            from tidings.entrypoints.cli import run  # what the installed script imports

            if __name__ == "__main__":
                from tidings.adapters.parsing import ProcessPoolParser

                parser = ProcessPoolParser(1)
                try:
                    parser.warm_up()
                    assert parser._pool is not None
                    found = parser._pool.submit(eval, "sorted(__import__('sys').modules)")
                    print(json.dumps(found.result(timeout=120)))
                finally:
                    parser.close()
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=300
    )
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "tidings.domain.message" in modules
    assert {"typer", "rich", "sqlalchemy", "tidings.entrypoints.cli.main"} & modules == set()
    assert _vendors_in(modules) == []
