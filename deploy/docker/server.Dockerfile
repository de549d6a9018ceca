# syntax=docker/dockerfile:1
# pserve parameter server image (ps_server). Build from the repository root:
#   docker build -f deploy/docker/server.Dockerfile -t IMAGE .
# Stage 1 builds with the project's own setup script and offline Bazel;
# stage 2 is debian slim with the runtime libraries and the binary only.

FROM debian:12.11 AS build
WORKDIR /src
# Packages first, in a layer of their own: a source change rebuilds only
# the Bazel step below.
COPY tools/setup.sh tools/setup.sh
RUN tools/setup.sh
COPY . .
RUN bazel build --config=portable //server:ps_server \
    && install -D -m 0755 bazel-bin/server/ps_server /out/ps_server

FROM debian:12.11-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       libgrpc++1.51 libprotobuf32 libabsl20220623 libspdlog1.10 libfmt9 \
       libgomp1 libatomic1 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 pserve \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin pserve
COPY --from=build /out/ps_server /usr/local/bin/ps_server
# Fail the image build, not the pod, if a shared library is missing.
RUN ! ldd /usr/local/bin/ps_server | grep "not found"
USER 10001:10001
EXPOSE 7070 9100
ENTRYPOINT ["/usr/local/bin/ps_server"]
