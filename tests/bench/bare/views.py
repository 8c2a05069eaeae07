from rest_framework import generics, permissions, serializers

from tests.bench.bare.models import BareConcern


class BareConcernSerializer(serializers.ModelSerializer):
    class Meta:
        model = BareConcern
        fields = "__all__"


class BareConcernCreateApi(generics.CreateAPIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []
    serializer_class = BareConcernSerializer
    queryset = BareConcern.objects.all()
