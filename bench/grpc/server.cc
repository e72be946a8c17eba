// A C++ gRPC server (system libgrpc++) answering pgml.v1.Database/Ping on a Unix socket.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "ping.grpc.pb.h"

namespace {

// The callback API: the handler runs on gRPC's own threads without a
// thread per call, the fastest unary path the library offers.
class PingService final : public pgml::v1::Database::CallbackService {
  grpc::ServerUnaryReactor *Ping(grpc::CallbackServerContext *ctx,
                                 const pgml::v1::PingRequest *req,
                                 pgml::v1::PingResponse *resp) override
  {
    resp->set_data(req->data());
    auto *r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

std::unique_ptr<grpc::Server> server;

void on_signal(int) {}

}  // namespace

int main(int argc, char **argv)
{
  if (argc != 2) {
    std::fprintf(stderr, "usage: grpc-ping-server SOCKET_PATH\n");
    return 2;
  }
  std::string addr = std::string("unix://") + argv[1];
  PingService svc;
  grpc::ServerBuilder b;
  b.AddListeningPort(addr, grpc::InsecureServerCredentials());
  b.RegisterService(&svc);
  server = b.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "grpc-ping-server: cannot listen on %s\n", addr.c_str());
    return 1;
  }
  std::printf("listening on %s\n", addr.c_str());
  std::fflush(stdout);
  // Wait for SIGTERM/SIGINT, then shut down.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  server->Shutdown();
  return 0;
}
