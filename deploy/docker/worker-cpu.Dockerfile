# syntax=docker/dockerfile:1
# pserve CPU worker image (ps_worker with the Eigen backend, ps_prepare,
# ps_generate); the storage kit's toolbox pod runs it too.
# Build from the repository root:
#   docker build -f deploy/docker/worker-cpu.Dockerfile -t IMAGE .
# Stage 1 builds with the project's own setup script and offline Bazel;
# stage 2 is debian slim with the runtime libraries and the binaries only.

FROM debian:12.11 AS build
WORKDIR /src
# Packages first, in a layer of their own: a source change rebuilds only
# the Bazel step below.
COPY tools/setup.sh tools/setup.sh
RUN tools/setup.sh
COPY . .
RUN bazel build --config=portable //worker:ps_worker //worker:ps_prepare //worker:ps_generate \
    && install -D -m 0755 bazel-bin/worker/ps_worker /out/ps_worker \
    && install -D -m 0755 bazel-bin/worker/data/ps_prepare /out/ps_prepare \
    && install -D -m 0755 bazel-bin/worker/ps_generate /out/ps_generate

FROM debian:12.11-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       libgrpc++1.51 libprotobuf32 libabsl20220623 libspdlog1.10 libfmt9 \
       libgomp1 libatomic1 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 pserve \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin pserve
COPY --from=build /out/ps_worker /out/ps_prepare /out/ps_generate /usr/local/bin/
# Fail the image build, not the pod, if a shared library is missing.
RUN ! ldd /usr/local/bin/ps_worker /usr/local/bin/ps_prepare /usr/local/bin/ps_generate | grep "not found"
USER 10001:10001
EXPOSE 9100
ENTRYPOINT ["/usr/local/bin/ps_worker"]
