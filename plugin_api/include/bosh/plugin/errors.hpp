// The only exception types that may leave a plugin.
//
// They mirror the external-CPI error types (Bosh::Clouds::*) so an error keeps
// its meaning when it crosses a process boundary (the external CPI protocol),
// a library boundary (a .so plugin) or the director API. The host catches
// every call at the boundary: an Error becomes a host-made copy (clone()), any
// other exception becomes CloudError("<plugin>: ...").
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/config.hpp>

namespace bosh::plugin {

class BOOST_SYMBOL_VISIBLE Error : public std::runtime_error {
 public:
  Error(std::string message, bool ok_to_retry = false)
      : std::runtime_error(std::move(message)), ok_to_retry_(ok_to_retry) {}
  ~Error() override = default;

  // The wire name, e.g. "Bosh::Clouds::VMNotFound".
  virtual const char* type() const noexcept { return "Bosh::Clouds::CpiError"; }
  bool ok_to_retry() const noexcept { return ok_to_retry_; }
  // A copy made by the caller's code (so it outlives an unloaded plugin).
  virtual std::unique_ptr<Error> clone() const { return std::make_unique<Error>(*this); }
  [[noreturn]] virtual void rethrow() const { throw *this; }

 private:
  bool ok_to_retry_;
};

#define BOSH_PLUGIN_DEFINE_ERROR(Name, Base, Wire, DefaultRetry)                          \
  class BOOST_SYMBOL_VISIBLE Name : public Base {                                          \
   public:                                                                                 \
    explicit Name(std::string message, bool ok_to_retry = DefaultRetry)                    \
        : Base(std::move(message), ok_to_retry) {}                                         \
    const char* type() const noexcept override { return Wire; }                            \
    std::unique_ptr<Error> clone() const override { return std::make_unique<Name>(*this); } \
    [[noreturn]] void rethrow() const override { throw *this; }                            \
  };

// Hierarchy and default ok_to_retry as in the Ruby CPI library (Bosh::Clouds).
BOSH_PLUGIN_DEFINE_ERROR(CpiError, Error, "Bosh::Clouds::CpiError", false)
BOSH_PLUGIN_DEFINE_ERROR(NotImplemented, CpiError, "Bosh::Clouds::NotImplemented", false)
BOSH_PLUGIN_DEFINE_ERROR(NotSupported, CpiError, "Bosh::Clouds::NotSupported", false)
BOSH_PLUGIN_DEFINE_ERROR(CloudError, Error, "Bosh::Clouds::CloudError", false)
BOSH_PLUGIN_DEFINE_ERROR(VMNotFound, CloudError, "Bosh::Clouds::VMNotFound", false)
BOSH_PLUGIN_DEFINE_ERROR(NetworkNotFound, CloudError, "Bosh::Clouds::NetworkNotFound", false)
BOSH_PLUGIN_DEFINE_ERROR(RetriableCloudError, CloudError, "Bosh::Clouds::RetriableCloudError", true)
BOSH_PLUGIN_DEFINE_ERROR(NoDiskSpace, RetriableCloudError, "Bosh::Clouds::NoDiskSpace", true)
BOSH_PLUGIN_DEFINE_ERROR(DiskNotAttached, RetriableCloudError, "Bosh::Clouds::DiskNotAttached", true)
BOSH_PLUGIN_DEFINE_ERROR(DiskNotFound, RetriableCloudError, "Bosh::Clouds::DiskNotFound", true)
BOSH_PLUGIN_DEFINE_ERROR(VMCreationFailed, RetriableCloudError, "Bosh::Clouds::VMCreationFailed", true)
// Errors of the CPI library layer and of the director's mapping.
BOSH_PLUGIN_DEFINE_ERROR(InvalidCall, Error, "InvalidCall", false)
BOSH_PLUGIN_DEFINE_ERROR(UnknownError, Error, "Unknown", false)
// Blobstore errors (not on the CPI wire; used by blobstore plugins).
BOSH_PLUGIN_DEFINE_ERROR(BlobstoreError, Error, "Bosh::Blobstore::BlobstoreError", false)
BOSH_PLUGIN_DEFINE_ERROR(BlobNotFound, BlobstoreError, "Bosh::Blobstore::NotFound", false)
BOSH_PLUGIN_DEFINE_ERROR(BlobChecksumMismatch, BlobstoreError, "Bosh::Blobstore::ChecksumMismatch", false)
// Command-line plugin errors: a user error is printed without a stack of context.
BOSH_PLUGIN_DEFINE_ERROR(UsageError, Error, "Bosh::Cli::UsageError", false)

#undef BOSH_PLUGIN_DEFINE_ERROR

// Builds the error a wire `{"type", "message", "ok_to_retry"}` names, applying
// the director's compatibility rules: an unknown type becomes UnknownError; an
// InvalidCall "Method is not known, got ..." or a CloudError "Invalid Method: ..."
// (old CPIs' way to say a method is missing) becomes NotImplemented.
inline std::unique_ptr<Error> error_from_wire(std::string_view type, std::string message,
                                              bool ok_to_retry) {
  auto starts = [&](std::string_view p) { return std::string_view(message).substr(0, p.size()) == p; };
  if ((type == "InvalidCall" && starts("Method is not known, got")) ||
      (type == "Bosh::Clouds::CloudError" && starts("Invalid Method:")))
    return std::make_unique<NotImplemented>(std::move(message), ok_to_retry);
#define BOSH_PLUGIN_FROM_WIRE(Name)                                  \
  if (type == Name(std::string()).type())                            \
    return std::make_unique<Name>(std::move(message), ok_to_retry);
  BOSH_PLUGIN_FROM_WIRE(CpiError)
  BOSH_PLUGIN_FROM_WIRE(NotImplemented)
  BOSH_PLUGIN_FROM_WIRE(NotSupported)
  BOSH_PLUGIN_FROM_WIRE(CloudError)
  BOSH_PLUGIN_FROM_WIRE(VMNotFound)
  BOSH_PLUGIN_FROM_WIRE(NetworkNotFound)
  BOSH_PLUGIN_FROM_WIRE(RetriableCloudError)
  BOSH_PLUGIN_FROM_WIRE(NoDiskSpace)
  BOSH_PLUGIN_FROM_WIRE(DiskNotAttached)
  BOSH_PLUGIN_FROM_WIRE(DiskNotFound)
  BOSH_PLUGIN_FROM_WIRE(VMCreationFailed)
  BOSH_PLUGIN_FROM_WIRE(InvalidCall)
  BOSH_PLUGIN_FROM_WIRE(UnknownError)
  BOSH_PLUGIN_FROM_WIRE(BlobstoreError)
  BOSH_PLUGIN_FROM_WIRE(BlobNotFound)
  BOSH_PLUGIN_FROM_WIRE(BlobChecksumMismatch)
  BOSH_PLUGIN_FROM_WIRE(UsageError)
#undef BOSH_PLUGIN_FROM_WIRE
  return std::make_unique<UnknownError>(std::move(message), ok_to_retry);
}

}  // namespace bosh::plugin
