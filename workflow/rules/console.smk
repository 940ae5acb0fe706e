# What the terminal shows (della/reporting/console.py; the jobs' own lines: della/progress.py): a
# start-up summary of the runs and of the data every task will use, Snakemake's chatter trimmed,
# one clear line and the command that continues after Ctrl-C, and a final summary of what was written.
from della.reporting import console as della_console  # noqa: E402
from della.reporting.report import record_finished_run  # noqa: E402

_RUN_NAMES = [f"{task}/{recipe}/seed{seed}" for task, recipe in runs_of(config) for seed in SEEDS]
_CONSOLE_STATE = {"finished": False}
_INTERRUPT = della_console.Interrupt()

if workflow.is_main_process and not is_inspecting():
    print("\n".join(della_console.startup_summary(
        config, workflow.config_settings.configfiles, list(INVOCATION.config or []) if INVOCATION is not None else [],
        runs_of(config), DATA_LOCATIONS, config["data_root"])), file=sys.stderr)
if REAL_RUN:
    _INTERRUPT.install()
    della_console.trim_snakemake_console(_INTERRUPT)
    della_console.at_exit(_INTERRUPT, _CONSOLE_STATE, R, TASKS, workflow.config_settings.configfiles)


onstart:
    # the "n of N runs done" counter of the runs' end lines: the runs this invocation finishes
    della_console.write_plan(R, della_console.runs_to_do(workflow, _RUN_NAMES))


onsuccess:
    if not TARGETS or "all" in TARGETS:  # what `snakemake --report` describes
        _CONSOLE_STATE["finished"] = True
        record_finished_run(R, config, workflow.config_settings.configfiles, workflow.config_settings.config,
                            REPO)
