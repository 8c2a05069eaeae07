from rest_framework import generics, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tests.bench.bare.models import BareConcern
from tests.bench.bare.same_rows import same_rows_write


class BareConcernSerializer(serializers.ModelSerializer):
    class Meta:
        model = BareConcern
        fields = "__all__"


class BareConcernCreateApi(generics.CreateAPIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []
    serializer_class = BareConcernSerializer
    queryset = BareConcern.objects.all()


class BareSameRowsCreateApi(generics.CreateAPIView):
    """The same request checks as the one-row side (its serializer), then the rows a raise writes, in one
    statement and with none of a raise's work (tests/bench/bare/same_rows.py)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []
    serializer_class = BareConcernSerializer

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _, reference, receipt = same_rows_write(serializer.validated_data)
        return Response({"reference": reference, "receipt": receipt}, status=status.HTTP_201_CREATED)
