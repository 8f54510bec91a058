// The pause binary of the real-node harness's sandbox image (hack/realnode/build.sh).
module kasynq.invalid/hack/realnode/pause

go 1.25.0
