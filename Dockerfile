# syntax=docker/dockerfile:1

# Build a static binary.
FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The release and commit to link in (.git is not in the build context):
# docker build --build-arg VERSION=$(git describe --tags --always) --build-arg REVISION=$(git rev-parse HEAD)
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags="-s -w -X github.com/evently/evently/internal/version.version=${VERSION} -X github.com/evently/evently/internal/version.revision=${REVISION}" \
    -o /out/evently ./cmd/evently

# Run it as an unprivileged user in a minimal image (no shell, no package manager).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/evently /evently
USER nonroot:nonroot
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["/evently", "healthcheck"]
ENTRYPOINT ["/evently"]
CMD ["serve"]
