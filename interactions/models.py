"""The append-only interaction log and the directed pair state (ties)."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from customers.models import Customer
from scrm.tenancy.models import BrandScopedModel


class InteractionType(models.TextChoices):
    VIEW = "view", "View"
    CLICK = "click", "Click"
    LIKE = "like", "Like"
    UNLIKE = "unlike", "Unlike"
    COMMENT = "comment", "Comment"
    REPLY = "reply", "Reply"
    FORWARD = "forward", "Forward"
    MESSAGE = "message", "Message"
    PURCHASE = "purchase", "Purchase"
    HIDE_POST = "hide_post", "Hide post (not interested)"
    MUTE_AUTHOR = "mute_author", "Mute author"
    UNFRIEND = "unfriend", "Unfriend"
    BLOCK = "block", "Block"
    REPORT = "report", "Report"


NEGATIVE_TYPES = frozenset({"hide_post", "mute_author", "unfriend", "block", "report"})


class Interaction(BrandScopedModel):
    """One event, idempotent on ``(brand, event_id)``; never updated after insert.

    Forwards: a person who is not a recipient of the post reaches it through someone's
    forward. Their events name that forward in ``forwarded_from`` (the forward's
    ``event_id``, unique per brand), and ``chain_depth`` counts the hops (0: seen in the own
    feed or authored, 1: through a recipient's forward, 2: a forward of that forward, …).
    """

    id = models.BigAutoField(primary_key=True)
    # The hot ingest path pays for every index: the brand is the prefix of the unique
    # (brand, event_id) index and the post that of the partial (post, type) one, so neither
    # gets an index of its own. actor and target keep theirs for cascading deletes.
    brand = models.ForeignKey(
        "tenancy.Brand", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    event_id = models.CharField(max_length=64)
    type = models.CharField(max_length=16, choices=InteractionType.choices)
    actor = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(
        "campaigns.Post",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    forwarded_from = models.CharField(
        max_length=64, blank=True, help_text="event_id of the forward through which it was seen."
    )
    chain_depth = models.PositiveSmallIntegerField(default=0)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)
    cancels_at = models.DateTimeField(
        null=True, blank=True, help_text="For an unlike: occurred_at of the like it takes back."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "event_id"], name="interaction_event_id"),
            models.CheckConstraint(
                condition=~Q(actor=models.F("target")), name="interaction_no_self"
            ),
        ]
        # Every index is paid for by every ingested row; each one here serves a query:
        # actor/target (their own FK indexes): cascades, the API's actor/target filters and
        # ingest's like-state probe; (post, type): post stats, reports and the feed counts;
        # (brand, -id): the brand's log, newest first; unscored: the scoring claim/sweeper.
        # No (brand, actor, target, occurred_at): no query reads a pair's timeline.
        indexes = [
            models.Index(
                fields=["post", "type"], condition=Q(post__isnull=False), name="ix_post_type"
            ),
            models.Index(fields=["brand", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.actor_id}→{self.target_id} ({self.event_id})"


class ScoringPending(models.Model):
    """Outbox of interactions not yet applied to the ties: one narrow row per new event.

    Ingest inserts the row in the transaction that stores the event; the worker claims rows
    by deleting them (``DELETE … RETURNING``) in the transaction that updates the ties, so an
    event is applied exactly once however often its task is delivered, and the log rows are
    never rewritten. Rows a lost task leaves behind are picked up by the sweeper; a full
    recompute of the brand deletes them. No foreign keys: ingest pays for no checks, and a
    row whose interaction is gone is simply deleted by the next claim.
    """

    interaction_id = models.BigIntegerField(primary_key=True)
    brand_id = models.BigIntegerField()
    # actor id + target id: the same for both directions of a pair. The scoring batches of
    # a brand are split by pair_key mod SCORING_PARTITIONS, so batches of different
    # partitions never touch the same tie rows and can run at the same time.
    pair_key = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "interactions_scoring_pending"
        indexes = [models.Index(fields=["brand_id", "interaction_id"], name="ix_pending_brand")]

    def __str__(self) -> str:
        return f"pending interaction {self.interaction_id}"


class Tie(BrandScopedModel):
    """Directed pair state ``source → target``: negative-signal flags and tie scores.

    ``blocked_at`` / ``reported_at`` / ``muted_at`` / ``unfriended_at`` / ``last_hidden_at``
    are set by ingest (the latest time wins) and read by publishing to suppress deliveries
    of ``target``'s posts to ``source``.

    Scoring (interactions/scoring.py): ``affinity`` is A(source→target) as of
    ``last_event_at`` and the ``c_*`` components split it by type (they sum to it).
    ``strength`` (0..1), ``intensity`` and ``mutual_jaccard`` are undirected and written on
    both directed rows of a pair.
    """

    id = models.BigAutoField(primary_key=True)
    # Every write to a tie row maintains each index: brand, source and target are prefixes
    # of ix_tie_brand_source, tie_source_target and (target, source), so none has its own.
    # No index holds a score column (strength, affinity, …) and the table keeps 20% of each
    # page free (fillfactor 80, migration 0007): the scoring worker's updates are HOT (no
    # index entries written) whenever the new row version fits on its page.
    #
    # Referential integrity is two composite foreign keys (migration 0009), (brand, source)
    # and (brand, target) → customers (brand, id), deferred: a tie row never outlives its
    # customers, who belong to its brand, who cannot outlive the brand. Two checks per new
    # tie row instead of three (brand, source, target), and none on the brand row itself,
    # which every writer of the brand would otherwise lock for each new row.
    brand = models.ForeignKey(
        "tenancy.Brand",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    source = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    target = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    blocked_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    muted_at = models.DateTimeField(null=True, blank=True)
    unfriended_at = models.DateTimeField(null=True, blank=True)
    last_hidden_at = models.DateTimeField(null=True, blank=True)
    affinity = models.FloatField(default=0.0, db_default=0.0)
    last_event_at = models.DateTimeField(null=True, blank=True)
    c_click = models.FloatField(default=0.0, db_default=0.0)
    c_like = models.FloatField(default=0.0, db_default=0.0)
    c_forward = models.FloatField(default=0.0, db_default=0.0)
    c_comment = models.FloatField(default=0.0, db_default=0.0)
    c_message = models.FloatField(default=0.0, db_default=0.0)
    c_reply = models.FloatField(default=0.0, db_default=0.0)
    c_purchase = models.FloatField(default=0.0, db_default=0.0)
    strength = models.FloatField(default=0.0, db_default=0.0)
    intensity = models.FloatField(default=0.0, db_default=0.0)
    mutual_jaccard = models.FloatField(default=0.0, db_default=0.0)
    strength_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    COMPONENT_TYPES = ("click", "like", "forward", "comment", "message", "reply", "purchase")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="tie_source_target"),
            models.CheckConstraint(condition=~Q(source=models.F("target")), name="tie_no_self"),
        ]
        indexes = [
            models.Index(fields=["target", "source"]),
            models.Index(fields=["brand", "source"], name="ix_tie_brand_source"),
        ]

    def __str__(self) -> str:
        return f"tie {self.source_id}→{self.target_id}"

    @property
    def flags(self) -> list[str]:
        names = {
            "blocked": self.blocked_at,
            "reported": self.reported_at,
            "muted": self.muted_at,
            "unfriended": self.unfriended_at,
            "hidden": self.last_hidden_at,
        }
        return [name for name, when in names.items() if when is not None]

    @property
    def components(self) -> dict[str, float]:
        """Per-type affinity as of ``last_event_at`` (keys: the weighted interaction types)."""
        return {name: getattr(self, f"c_{name}") for name in self.COMPONENT_TYPES}


class TieStats(models.Model):
    """Per-brand scoring statistics: κ (the intensity percentile) and recompute bookkeeping."""

    id = models.BigAutoField(primary_key=True)
    brand = models.OneToOneField("tenancy.Brand", on_delete=models.CASCADE, related_name="+")
    kappa = models.FloatField()
    active_pairs = models.IntegerField(default=0)
    computed_at = models.DateTimeField()
    last_recompute_at = models.DateTimeField(null=True, blank=True)
    last_recompute_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "tie stats"

    def __str__(self) -> str:
        return f"tie stats brand={self.brand_id} κ={self.kappa:.3f}"


class TieModel(models.Model):
    """A brand's own tie parameters, fitted from its outcomes by ``manage.py fit_tie_model``
    and stored only when they beat the defaults on held-out pairs. They replace, for that
    brand only, the interaction-type weights and the two term weights of ``SCRM_TIES``
    (`interactions.selectors.tie_params_for_brand`); no row: the settings."""

    id = models.BigAutoField(primary_key=True)
    brand = models.OneToOneField("tenancy.Brand", on_delete=models.CASCADE, related_name="+")
    weights = models.JSONField(help_text="Weight of one interaction of each type.")
    duration_weight = models.FloatField()
    mutual_weight = models.FloatField()
    held_out_auc = models.FloatField(help_text="AUC of the fitted parameters on held-out pairs.")
    default_auc = models.FloatField(help_text="AUC of the defaults on the same pairs.")
    pairs = models.IntegerField(default=0, help_text="Pairs the fit saw (train + held out).")
    fitted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_weight__gte=0) & Q(mutual_weight__gte=0),
                name="tie_model_term_weights_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return f"tie model brand={self.brand_id} AUC {self.held_out_auc:.3f}"
