# Multi-stage, static, distroless nonroot. `make build` uses the same flags.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/platform-webhook ./cmd/platform-webhook

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/platform-webhook /platform-webhook
USER 65532:65532
ENTRYPOINT ["/platform-webhook"]
CMD ["serve"]
