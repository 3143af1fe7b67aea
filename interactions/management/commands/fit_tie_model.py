"""`manage.py fit_tie_model --brand SLUG`: fit a brand's tie weights from its own outcomes.

Prints the fitted interaction-type and term weights next to the defaults (the settings) and
both held-out AUCs; stores the fit for the brand (`interactions.models.TieModel`) only when it
beats the defaults on the held-out pairs, and then queues the brand's full recompute (or,
with ``--no-recompute``, says how to run it). ``--dry-run`` stores nothing; ``--reset`` goes
back to the defaults. The method is in `interactions.tie_fit`.
"""

from __future__ import annotations

import math
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from interactions import services
from interactions.models import TieModel
from interactions.tie_fit import FitError, tie_model_fit
from scrm.tenancy.models import Brand


class Command(BaseCommand):
    help = "Fit a brand's interaction-type and term weights of the tie model from its outcomes."

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help="slug of the brand")
        parser.add_argument(
            "--outcome-days",
            type=float,
            default=14.0,
            help="outcome window: does the pair interact in the last N days (14)",
        )
        parser.add_argument("--as-of", help="end of the outcome window (ISO time; default now)")
        parser.add_argument("--seed", type=int, default=0, help="train / held-out split (0)")
        parser.add_argument("--dry-run", action="store_true", help="print the fit, store nothing")
        parser.add_argument(
            "--no-recompute", action="store_true", help="store without queueing a recompute"
        )
        parser.add_argument(
            "--reset", action="store_true", help="drop the brand's fitted parameters"
        )

    def handle(self, *args, **options):
        brand = Brand.objects.filter(slug=options["brand"]).first()
        if brand is None:
            raise CommandError(f"No brand with slug {options['brand']!r}.")
        recompute = not options["no_recompute"]
        if options["reset"]:
            had = services.tie_model_reset(brand_id=brand.pk, recompute=recompute)
            self.stdout.write(
                f"brand {brand.slug}: "
                + ("back to the default parameters" if had else "already on the defaults")
                + (", recompute queued" if had and recompute else "")
            )
            return
        if options["outcome_days"] <= 0:
            raise CommandError("--outcome-days must be > 0.")
        as_of = datetime.fromisoformat(options["as_of"]) if options["as_of"] else None
        if as_of is not None and as_of.tzinfo is None:
            raise CommandError("--as-of needs a time zone (e.g. 2026-12-01T00:00:00+00:00).")
        try:
            fit = tie_model_fit(
                brand_id=brand.pk,
                as_of=as_of,
                outcome_days=options["outcome_days"],
                seed=options["seed"],
            )
        except FitError as error:
            raise CommandError(f"brand {brand.slug}: {error}") from error
        self._print(brand, fit)
        current = TieModel.objects.filter(brand=brand).first()
        if current is not None:
            self.stdout.write(
                f"currently stored: fitted {current.fitted_at:%Y-%m-%d %H:%M}, held-out AUC "
                f"{current.held_out_auc:.4f} (defaults {current.default_auc:.4f})"
            )
        if not fit.beats_defaults:
            self.stdout.write(
                self.style.WARNING("the fit does not beat the defaults on held-out pairs: kept")
            )
            return
        if options["dry_run"]:
            self.stdout.write("the fit beats the defaults (dry run: not stored)")
            return
        services.tie_model_save(
            brand_id=brand.pk,
            weights=fit.weights,
            duration_weight=fit.duration_weight,
            mutual_weight=fit.mutual_weight,
            held_out_auc=fit.fitted_auc,
            default_auc=fit.default_auc,
            pairs=fit.pairs,
            recompute=recompute,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"stored for brand {brand.slug}; "
                + (
                    "full recompute of its ties queued"
                    if recompute
                    else f"run `manage.py recompute_ties --brand {brand.slug}` to apply it"
                )
            )
        )

    def _print(self, brand, fit) -> None:
        out = self.stdout.write
        out(
            f"brand {brand.slug}: {fit.pairs:,} pairs with interactions before "
            f"{fit.cut:%Y-%m-%d %H:%M} UTC, {fit.positive_rate:.1%} interacting again in the "
            f"outcome window; fitted on {fit.train:,}, judged on {fit.held_out:,} held out"
        )
        out("")
        out(f"{'weight':<18}{'default':>10}{'fitted':>10}{'coef':>12}")
        for name in fit.weights:
            coef = fit.coefficients.get(name, math.nan)
            shown = "-" if math.isnan(coef) else f"{coef:.4f}"
            note = "  (too few pairs: default)" if name in fit.kept_default else ""
            out(
                f"{name:<18}{fit.defaults.weights.get(name, 0.0):>10.3f}"
                f"{fit.weights[name]:>10.3f}{shown:>12}{note}"
            )
        terms = fit.term_coefficients
        out(
            f"{'duration_weight':<18}{fit.defaults.duration_weight:>10.3f}"
            f"{fit.duration_weight:>10.3f}{terms['duration']:>12.4f}"
        )
        out(
            f"{'mutual_weight':<18}{fit.defaults.mutual_weight:>10.3f}"
            f"{fit.mutual_weight:>10.3f}{terms['jaccard']:>12.4f}"
        )
        out(f"{'(ln intensity)':<18}{'':>10}{'':>10}{terms['ln_intensity']:>12.4f}")
        out("")
        out(f"held-out AUC: defaults {fit.default_auc:.4f}, fitted {fit.fitted_auc:.4f}")
