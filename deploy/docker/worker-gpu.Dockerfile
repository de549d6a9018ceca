# syntax=docker/dockerfile:1
# pserve GPU worker image (ps_worker with the CUDA backend, ps_prepare).
# Build from the repository root:
#   docker build -f deploy/docker/worker-gpu.Dockerfile -t IMAGE .
# Stage 1 is Debian with the CUDA toolkit copied in from NVIDIA's devel image,
# built with --config=cuda; stage 2 is NVIDIA's CUDA runtime image (cudart,
# cuBLAS) plus the binaries and the Debian libraries they link, bundled
# under /opt/pserve/lib. The host needs an NVIDIA driver for CUDA 13.

FROM nvidia/cuda:13.0.1-devel-ubuntu24.04 AS cuda

FROM debian:12.11 AS build
COPY --from=cuda /usr/local/cuda-13.0 /usr/local/cuda-13.0
RUN ln -s /usr/local/cuda-13.0 /usr/local/cuda
ENV PATH=/usr/local/cuda/bin:${PATH}
WORKDIR /src
COPY . .
# Bundle every linked library except glibc, the C++ runtime and CUDA's own
# (the runtime image provides those, at the same CUDA version).
RUN tools/setup.sh \
    && bazel build --config=cuda --config=portable //worker:ps_worker //worker:ps_prepare \
    && install -D -m 0755 bazel-bin/worker/ps_worker /out/bin/ps_worker \
    && install -D -m 0755 bazel-bin/worker/data/ps_prepare /out/bin/ps_prepare \
    && mkdir -p /out/lib \
    && ldd /out/bin/ps_worker /out/bin/ps_prepare \
       | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u \
       | grep -Ev '/(ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libstdc\+\+|libgcc_s)\.so' \
       | grep -Ev '/lib(cuda|cudart|cublas|cublasLt|nvidia-[a-z-]+)\.so' \
       | xargs -r cp -L -t /out/lib

FROM nvidia/cuda:13.0.1-runtime-ubuntu24.04
RUN groupadd --gid 10001 pserve \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin pserve
COPY --from=build /out/lib/ /opt/pserve/lib/
COPY --from=build /out/bin/ /usr/local/bin/
ENV LD_LIBRARY_PATH=/opt/pserve/lib:/usr/local/nvidia/lib:/usr/local/nvidia/lib64
# Fail the image build, not the pod, if a shared library is missing
# (libcuda.so.1 comes from the host driver at run time).
RUN ! ldd /usr/local/bin/ps_worker /usr/local/bin/ps_prepare | grep "not found" | grep -v "libcuda.so"
USER 10001:10001
EXPOSE 9100
ENTRYPOINT ["/usr/local/bin/ps_worker"]
