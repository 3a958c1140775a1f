#include "bosh/common/certificates.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>

namespace bosh {

std::optional<std::int64_t> certificate_not_after(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return std::nullopt;
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!cert) return std::nullopt;
  std::tm tm{};
  const bool ok = ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1;
  X509_free(cert);
  if (!ok) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace bosh
