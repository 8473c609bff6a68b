"""The cluster API boundary: typed models, one error tree, and the async client."""

from relay.cluster.client import MAX_PAGE, ClusterClient
from relay.cluster.errors import (
    BadResponse,
    ClientError,
    ClusterApiError,
    NotFound,
    RateLimited,
    ResponseTooLarge,
    ServerError,
    Unauthorized,
    Unavailable,
)
from relay.cluster.models import (
    Cluster,
    ClusterPage,
    Container,
    Created,
    Image,
    ImageConstraint,
    ImageList,
    VersionControl,
    Volume,
    to_jsonable,
)
from relay.cluster.parsing import (
    parse_cluster,
    parse_containers,
    parse_created,
    parse_images,
    parse_page,
    parse_time,
)
from relay.cluster.retry import RetryPolicy
from relay.cluster.transport import open_session

__all__ = [
    "MAX_PAGE", "BadResponse", "ClientError", "Cluster", "ClusterApiError", "ClusterClient",
    "ClusterPage", "Container", "Created", "Image", "ImageConstraint", "ImageList", "NotFound",
    "RateLimited", "ResponseTooLarge", "RetryPolicy", "ServerError", "Unauthorized", "Unavailable",
    "VersionControl", "Volume", "open_session", "parse_cluster", "parse_containers",
    "parse_created", "parse_images", "parse_page", "parse_time", "to_jsonable",
]
