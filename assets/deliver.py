"""out_delivery: the daily job's last step, after the publication: each consumer gets its files.

Runs only when a delivery configuration is given (``PASSERELLE_DELIVERIES``, ``passerelle run
--deliveries``); without one it materialises nothing. A delivery that still fails after its
retries does not fail the run (the day is published, the next run sends what is missing): it
fails the non-blocking check ``delivered`` and sends an alert naming the consumer, the file and
the error (``passerelle.delivery.deliver``). The check is a step of its own that reads the
asset's value, so that Dagster skips it with the asset when no delivery is configured.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.ingest import partition_date
from pipelines.partitions import daily_partitions
from pipelines.resources import DeliveriesResource, OutboxResource, StoreResource


@asset(
    partitions_def=daily_partitions,
    group_name="out",
    ins={"publication": AssetIn("out_publication")},
    output_required=False,
    description="Send each consumer its files of the day (sftp:// or file://), every attempt on record",
)
def out_delivery(
    context: AssetExecutionContext,
    outbox: OutboxResource,
    store: StoreResource,
    deliveries: DeliveriesResource,
    publication: dict,
):
    from passerelle.alerts import send_alert
    from passerelle.delivery import DeliveryConfigError, deliver

    if not deliveries.configured():
        context.log.info("Aucune configuration de livraison (PASSERELLE_DELIVERIES) : rien n'est envoyé.")
        return
    d = partition_date(context)
    try:
        config = deliveries.load()
    except DeliveryConfigError as exc:
        result = send_alert(
            outbox.root(),
            f"Passerelle : livraisons du {d:%d/%m/%Y} non faites, configuration inutilisable",
            f"{exc}\n\nRien n'a été envoyé. Corrigez la configuration, puis lancez "
            f"passerelle deliver --date {d.isoformat()}.",
            extra={"kind": "delivery_config", "date": d.isoformat(), "run_id": context.run_id},
        )
        yield Output({"error": str(exc), "failed": []}, metadata={"error": str(exc), "alert": str(result.path)})
        return
    st = store.open()
    try:
        run = deliver(config, st, outbox.root(), d, batch_id=context.run_id)
    except Exception as exc:  # noqa: BLE001 - the day is published: say the deliveries stopped, do not fail the run
        context.log.exception("deliveries interrupted")
        result = send_alert(
            outbox.root(),
            f"Passerelle : livraisons du {d:%d/%m/%Y} interrompues",
            f"Les livraisons se sont arrêtées sur une erreur inattendue : {exc}\n\nLa publication du "
            f"jour est faite. Ce qui n'a pas été livré le sera par le prochain run, ou tout de suite par "
            f"passerelle deliver --date {d.isoformat()}.",
            extra={"kind": "delivery_failure", "date": d.isoformat(), "run_id": context.run_id},
        )
        yield Output(
            {"error": f"livraisons interrompues : {exc}", "failed": []},
            metadata={"error": str(exc), "alert": str(result.path)},
        )
        return
    finally:
        st.dispose()
    failed = [f"{i.consumer} : {i.file} — {i.error}" for i in run.failed]
    table = "\n".join(f"| {i.consumer} | {i.file} | {i.status} | {i.attempts} | {i.error or ''} |" for i in run.items)
    yield Output(
        {"batch_id": run.batch_id, "counts": run.counts(), "failed": failed, "alerts": run.alerts},
        metadata={
            **run.counts(),
            "config": config.source,
            "deliveries": MetadataValue.md(
                "| partenaire | fichier | résultat | essais | erreur |\n|---|---|---|---|---|\n" + table
            ),
        },
    )


@asset_check(
    asset=out_delivery,
    name="delivered",
    blocking=False,
    partitions_def=daily_partitions,
    description="Every file of the day reached its consumers (deliveries.yaml), retries included",
)
def delivered(out_delivery: dict) -> AssetCheckResult:
    problems = ([out_delivery["error"]] if out_delivery.get("error") else []) + list(out_delivery.get("failed", []))
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"failed": MetadataValue.md("\n".join(f"- {f}" for f in problems) or "aucun")},
    )
