#include "greet.hpp"

#include <ostream>

namespace {
class GreetGroup : public bosh::plugin::CommandGroup {
 public:
  explicit GreetGroup(bosh::plugin::HostServices& host) : host_(host) {}
  std::string name() const override { return "greet"; }
  std::string summary() const override { return "Example third-party command group"; }
  std::vector<bosh::plugin::Command> commands() override {
    bosh::plugin::Command hello;
    hello.name = "hello";
    hello.summary = "Say hello";
    hello.options = {{"name", 0, "Whom to greet", true, "NAME"}};
    hello.run = [this](bosh::plugin::Invocation& inv) {
      host_.log(bosh::plugin::LogLevel::debug, "greeting");
      std::string who = inv.value("name", "world");
      if (inv.json)
        inv.out << "{\"greeting\": \"hello, " << who << "\"}\n";
      else
        inv.out << "hello, " << who << " (from " << host_.host_version() << ")\n";
      return 0;
    };
    return {hello};
  }

 private:
  bosh::plugin::HostServices& host_;
};
}  // namespace

std::unique_ptr<bosh::plugin::CommandGroup> make_greet_group(bosh::plugin::HostServices& host) {
  return std::make_unique<GreetGroup>(host);
}
