"""One whole daily run in this process, without keeping every step output until the end.

``JobDefinition.execute_in_process`` hands every step output to an ``output_capture`` dict so
that its result can answer ``output_for_node`` (Dagster issue #9731): whatever the IO manager,
the canonical tables, the findings and the publication of a national day then all stay in
memory until the run ends. :func:`execute_daily` runs the job the same way (same ephemeral job
with the given resources, same in-process execution, same events and result object) with the
capture switched off, so that with :class:`pipelines.io_managers.SpillingIOManager` a step
holds only its own inputs. The result's ``output_for_node`` is not available; the CLI reads
the run's events and the files it published.

This goes through ``dagster._core.execution.execute_in_process.core_execute_in_process``, the
function ``execute_in_process`` itself calls; the dagster family is pinned to one version in
``pyproject.toml`` and ``tests/integration/test_memory.py`` fails if the call stops working or
starts keeping outputs again.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import DagsterInstance, JobDefinition


def execute_daily(job: JobDefinition, *, resources: Mapping[str, object], partition_key: str, instance: DagsterInstance,
                  run_id: str, run_config: Mapping[str, object] | None = None, raise_on_error: bool = False):  # fmt: skip
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.definitions.partitions.context import partition_loading_context
    from dagster._core.execution.execute_in_process import (
        core_execute_in_process,
        merge_run_tags,
        type_check_and_normalize_args,
    )

    run_config, op_selection, asset_selection, resource_defs, key, input_values = type_check_and_normalize_args(
        run_config=run_config, partition_key=partition_key, resources=resources
    )
    ephemeral = job.as_ephemeral_job(resource_defs=resource_defs, input_values=input_values,
                                     op_selection=op_selection, asset_selection=asset_selection)  # fmt: skip
    if key and ephemeral.partitions_def:
        with partition_loading_context(dynamic_partitions_store=instance) as ctx:
            ephemeral.validate_partition_key(partition_key=key, selected_asset_keys=set(asset_selection),
                                             context=ctx)  # fmt: skip
    return core_execute_in_process(
        job=InMemoryJob(job_def=ephemeral),
        run_config=run_config,
        instance=instance,
        output_capturing_enabled=False,
        raise_on_error=raise_on_error,
        run_tags=merge_run_tags(
            job_def=job,
            partition_key=key,
            tags=None,
            asset_selection=asset_selection,
            instance=instance,
            run_config=run_config,
        ),  # fmt: skip
        run_id=run_id,
        asset_selection=frozenset(asset_selection),
    )
