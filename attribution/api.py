"""The attribution API: programs, groups, rule-set versions (with publishing and the
preview) and attributions (read, re-run with a late click id)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from attribution import selectors, services
from attribution.models import Attribution
from attribution.serializers import (
    AttributionSerializer,
    CommissionRuleSerializer,
    CreatorGroupSerializer,
    PreviewSerializer,
    ProgramSerializer,
    RecomputeSerializer,
    RuleSetSerializer,
)
from creators import commission_rules as rules
from creators import services as creator_services
from creators.models import CreatorGroup, Program, RuleSet
from sales.models import Order

WRITE = (
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
)


class ProgramViewSet(*WRITE):
    """Programs: the attribution policy (changes make a new policy version), the commission
    base's options, the payout schedule."""

    serializer_class = ProgramSerializer
    queryset = Program.objects.order_by("pk")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = creator_services.program_create(
            name=data.pop("name"), slug=data.pop("slug"), actor=self.request.user, **data
        )

    def perform_update(self, serializer):
        serializer.instance = creator_services.program_update(
            program_id=serializer.instance.pk,
            actor=self.request.user,
            reason="Changed through the API.",
            **serializer.validated_data,
        )


class CreatorGroupViewSet(*WRITE):
    serializer_class = CreatorGroupSerializer
    queryset = CreatorGroup.objects.order_by("pk")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = creator_services.group_create(
            program_id=data.pop("program").pk, name=data.pop("name"), slug=data.pop("slug"), **data
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("program", None)
        serializer.instance = creator_services.group_update(group_id=serializer.instance.pk, **data)


class RuleSetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Versions of a group's rules (or a creator's override). Creating one makes the draft of
    the next version (a copy of the latest); add rules to it, then publish."""

    serializer_class = RuleSetSerializer
    queryset = RuleSet.objects.prefetch_related("rules__products", "rules__collections").order_by(
        "pk"
    )

    def perform_create(self, serializer):
        data = serializer.validated_data
        creator = data.get("creator")
        serializer.instance = creator_services.ruleset_draft(
            group_id=data["group"].pk,
            creator_id=creator.pk if creator else None,
            note=data.get("note", ""),
        )

    @extend_schema(request=CommissionRuleSerializer, responses=CommissionRuleSerializer)
    @action(detail=True, methods=["post"])
    def rules(self, request, pk=None):
        """Add a rule to a draft."""
        serializer = CommissionRuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = creator_services.rule_save(ruleset_id=int(pk), **serializer.validated_data)
        return Response(CommissionRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=RuleSetSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """Publish a draft: at once for a raise, after the notice period for a decrease."""
        ruleset = creator_services.ruleset_publish(ruleset_id=int(pk), actor=request.user)
        return Response(RuleSetSerializer(self.get_queryset().get(pk=ruleset.pk)).data)

    @extend_schema(request=PreviewSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        """What an order would earn under this version: the sentence and the amount."""
        ruleset = self.get_object()
        serializer = PreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        title = data["title"]
        if data.get("product"):
            from catalog.models import Product

            product = Product.objects.filter(pk=data["product"]).first()
            title = product.title if product else title
        facts = rules.OrderFacts(
            currency=data["currency"].upper(),
            placed_at=timezone.now(),
            country=data["country"],
            returning=data["returning"],
            lines=[
                rules.LineFacts(
                    None, data.get("product"), title, data["quantity"], data["unit_price"]
                )
            ],
        )
        program = ruleset.group.program
        ids = [ruleset.pk] + (
            []
            if ruleset.creator_id is None
            else [
                x
                for x in rules.rulesets_in_force(
                    group_id=ruleset.group_id, creator_id=None, at=timezone.now()
                )
            ]
        )
        result = rules.compute(facts, program, ids)
        return Response(
            {
                "sentence": rules.preview_sentence(facts=facts, program=program, ruleset_ids=ids),
                "amount": str(result.total),
                "currency": facts.currency,
            }
        )


class AttributionViewSet(viewsets.ReadOnlyModelViewSet):
    """Who each order is credited to and why, with the candidates, signals and history."""

    serializer_class = AttributionSerializer
    queryset = Attribution.objects.none()

    def get_queryset(self):
        queryset = selectors.attribution_detail().order_by("-decided_at", "-pk")
        params = self.request.query_params
        if params.get("creator", "").isdigit():
            queryset = queryset.filter(creator_id=int(params["creator"]))
        if params.get("order", "").isdigit():
            queryset = queryset.filter(order_id=int(params["order"]))
        if params.get("rule"):
            queryset = queryset.filter(rule=params["rule"])
        return queryset

    @extend_schema(request=RecomputeSerializer, responses=AttributionSerializer)
    @action(detail=False, methods=["post"], url_path=r"orders/(?P<order_id>\d+)/decide")
    def decide(self, request, order_id=None):
        """Decide (or re-run) an order's credit, optionally with a late click id."""
        serializer = RecomputeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not Order.objects.filter(pk=order_id).exists():
            from core.errors import ApplicationError

            raise ApplicationError(f"Order #{order_id} does not exist.", code="not_found")
        attribution = services.attribution_decide(
            order_id=int(order_id),
            actor=request.user,
            late_click_id=serializer.validated_data.get("late_click_id", ""),
            reason=serializer.validated_data["reason"],
        )
        return Response(AttributionSerializer(selectors.for_order(attribution.order_id)).data)
