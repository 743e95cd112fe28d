"""REST API of the quality domain: forms and evaluations to read; submit, acknowledge and
dispute to act. One thin view per operation, the services' errors mapped by core.api."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    BoundedCharField,
    EmptyInputSerializer,
    InputSerializer,
    StandardPagination,
    error_responses,
    valid_body,
    valid_query,
)
from core.permissions import TakesPartInQuality
from quality import selectors, services
from quality.models import Answer, Evaluation, EvaluationForm, EvaluationStatus, Question


class QuestionOutputSerializer(serializers.ModelSerializer):
    section = serializers.CharField(source="section.title")

    class Meta:
        model = Question
        fields = ["id", "section", "text", "guidance", "kind", "scale_min", "scale_max", "weight", "allow_na",
                  "critical"]


class FormOutputSerializer(serializers.ModelSerializer):
    """A form from selectors.forms_with_current_questions (its latest version prefetched)."""

    version = serializers.SerializerMethodField()
    questions = serializers.SerializerMethodField()

    class Meta:
        model = EvaluationForm
        fields = ["id", "name", "description", "pass_mark", "version", "questions"]

    def get_version(self, form) -> int | None:
        version = selectors.current_version(form)
        return version.number if version else None

    def get_questions(self, form) -> list[dict]:
        version = selectors.current_version(form)
        if version is None:
            return []
        return QuestionOutputSerializer(selectors.current_questions(version), many=True).data


class AnswerOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Answer
        fields = ["question", "value", "comment", "dispute_comment"]


class EvaluationOutputSerializer(serializers.ModelSerializer):
    form = serializers.CharField(source="version.form.name")
    version = serializers.IntegerField(source="version.number")
    agent = serializers.CharField(source="agent.username")
    evaluator = serializers.CharField(source="evaluator.username", allow_null=True, default=None)

    class Meta:
        model = Evaluation
        fields = ["id", "item", "agent", "evaluator", "form", "version", "status", "source", "score", "passed",
                  "replaces", "reason", "dispute_comment", "rework_item", "created_at", "submitted_at"]


class EvaluationDetailOutputSerializer(EvaluationOutputSerializer):
    answers = AnswerOutputSerializer(many=True, read_only=True)

    class Meta(EvaluationOutputSerializer.Meta):
        fields = [*EvaluationOutputSerializer.Meta.fields, "answers"]


class FormListApi(ListAPIView):
    """Active evaluation forms with their current version's questions."""

    permission_classes = [TakesPartInQuality]
    serializer_class = FormOutputSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        return selectors.forms_with_current_questions()

    @extend_schema(responses={200: FormOutputSerializer(many=True), **error_responses(400, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class EvaluationListApi(ListAPIView):
    """Evaluations you may see (quality.selectors.evaluations_visible_to): yours to do and
    done, of your work once submitted, your teams' for supervisors, all for quality leads.
    Filter with `?status=`."""

    permission_classes = [TakesPartInQuality]
    serializer_class = EvaluationOutputSerializer
    pagination_class = StandardPagination

    class EvaluationFilterSerializer(InputSerializer):
        status = serializers.ChoiceField(choices=EvaluationStatus.choices, required=False, allow_blank=True)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Evaluation.objects.none()
        evaluations = selectors.evaluations_visible_to(self.request.user)
        status = valid_query(self.EvaluationFilterSerializer, self.request, self).get("status")
        return evaluations.filter(status=status) if status else evaluations

    @extend_schema(
        parameters=[EvaluationFilterSerializer],
        responses={200: EvaluationOutputSerializer(many=True), **error_responses(400, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class EvaluationDetailApi(APIView):
    permission_classes = [TakesPartInQuality]

    @extend_schema(responses={200: EvaluationDetailOutputSerializer, **error_responses(403, 404)})
    def get(self, request, evaluation_id: int):
        evaluation = selectors.evaluation_for_page(user=request.user, evaluation_id=evaluation_id)
        return Response(EvaluationDetailOutputSerializer(evaluation).data)


class EvaluationSubmitApi(APIView):
    """Save answers (`draft: true`) or submit them; answers map question ids to "yes", "no",
    "na" or a scale value."""

    permission_classes = [TakesPartInQuality]

    class EvaluationSubmitInputSerializer(InputSerializer):
        answers = serializers.DictField(child=serializers.CharField(allow_null=True, allow_blank=True))
        comments = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
        draft = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=EvaluationSubmitInputSerializer,
        responses={200: EvaluationDetailOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request, evaluation_id: int):
        data = valid_body(self.EvaluationSubmitInputSerializer, request)
        write = services.evaluation_save if data["draft"] else services.evaluation_submit
        evaluation = write(evaluation_id=evaluation_id, actor=request.user, answers=_by_question(data["answers"]),
                           comments=_by_question(data["comments"]))
        return Response(EvaluationDetailOutputSerializer(evaluation).data)


class EvaluationAcknowledgeApi(APIView):
    permission_classes = [TakesPartInQuality]

    @extend_schema(
        request=EmptyInputSerializer,
        responses={200: EvaluationOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request, evaluation_id: int):
        valid_body(EmptyInputSerializer, request)
        evaluation = services.evaluation_acknowledge(evaluation_id=evaluation_id, actor=request.user)
        return Response(EvaluationOutputSerializer(evaluation).data)


class EvaluationDisputeApi(APIView):
    permission_classes = [TakesPartInQuality]

    class EvaluationDisputeInputSerializer(InputSerializer):
        comment = BoundedCharField(required=False, allow_blank=True, default="", max_length=2000)
        questions = serializers.DictField(child=BoundedCharField(max_length=2000), required=False, default=dict)

    @extend_schema(
        request=EvaluationDisputeInputSerializer,
        responses={200: EvaluationOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request, evaluation_id: int):
        data = valid_body(self.EvaluationDisputeInputSerializer, request)
        evaluation = services.evaluation_dispute(
            evaluation_id=evaluation_id, actor=request.user, comment=data["comment"],
            question_comments=_by_question(data["questions"]),
        )
        return Response(EvaluationOutputSerializer(evaluation).data)


def _by_question(values: dict) -> dict:
    try:
        return {int(key): value for key, value in values.items()}
    except ValueError:
        raise serializers.ValidationError({"answers": ["Keys are question ids (numbers)."]}) from None


