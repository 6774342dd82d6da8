package io.hiformer.ranker;

import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Real X.509 certificates for TLS tests, made fresh by BouncyCastle: a CA, a server certificate
 * for localhost and 127.0.0.1 signed by it, a client certificate signed by it, and a client
 * certificate signed by another CA (which mutual TLS must refuse). PEM files; keys in PKCS#8.
 */
public record TestCertificates(Path ca, Path serverCert, Path serverKey, Path clientCert, Path clientKey,
    Path rogueCert, Path rogueKey) {

  public static TestCertificates create(Path dir) throws IOException {
    try {
      Files.createDirectories(dir);
      KeyPair caKeys = keys();
      X509Certificate ca = sign("CN=hiformer test CA", caKeys, "CN=hiformer test CA", caKeys.getPrivate(), true, null);
      KeyPair serverKeys = keys();
      X509Certificate server = sign("CN=localhost", serverKeys, "CN=hiformer test CA", caKeys.getPrivate(), false,
          new GeneralNames(new GeneralName[] {new GeneralName(GeneralName.dNSName, "localhost"),
              new GeneralName(GeneralName.iPAddress, InetAddress.getLoopbackAddress().getHostAddress())}));
      KeyPair clientKeys = keys();
      X509Certificate client = sign("CN=hiformer test client", clientKeys, "CN=hiformer test CA", caKeys.getPrivate(),
          false, null);
      KeyPair rogueCaKeys = keys();
      KeyPair rogueKeys = keys();
      X509Certificate rogue = sign("CN=rogue client", rogueKeys, "CN=rogue CA", rogueCaKeys.getPrivate(), false, null);
      TestCertificates t = new TestCertificates(dir.resolve("ca.pem"), dir.resolve("server.pem"),
          dir.resolve("server.key"), dir.resolve("client.pem"), dir.resolve("client.key"), dir.resolve("rogue.pem"),
          dir.resolve("rogue.key"));
      pem(t.ca, "CERTIFICATE", ca.getEncoded());
      pem(t.serverCert, "CERTIFICATE", server.getEncoded());
      pem(t.serverKey, "PRIVATE KEY", serverKeys.getPrivate().getEncoded());
      pem(t.clientCert, "CERTIFICATE", client.getEncoded());
      pem(t.clientKey, "PRIVATE KEY", clientKeys.getPrivate().getEncoded());
      pem(t.rogueCert, "CERTIFICATE", rogue.getEncoded());
      pem(t.rogueKey, "PRIVATE KEY", rogueKeys.getPrivate().getEncoded());
      return t;
    } catch (GeneralSecurityException | OperatorCreationException e) {
      throw new IllegalStateException(e);
    }
  }

  private static KeyPair keys() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    return g.generateKeyPair();
  }

  private static X509Certificate sign(String subject, KeyPair subjectKeys, String issuer, PrivateKey issuerKey,
      boolean isCa, GeneralNames altNames) throws GeneralSecurityException, OperatorCreationException, IOException {
    Instant now = Instant.now();
    var b = new JcaX509v3CertificateBuilder(new X500Name(issuer), BigInteger.valueOf(now.toEpochMilli()),
        Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(1))), new X500Name(subject),
        subjectKeys.getPublic());
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
    b.addExtension(Extension.keyUsage, true, new KeyUsage(isCa
        ? KeyUsage.keyCertSign | KeyUsage.cRLSign : KeyUsage.digitalSignature | KeyUsage.keyAgreement));
    if (altNames != null) {
      b.addExtension(Extension.subjectAlternativeName, false, altNames);
    }
    return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA")
        .build(issuerKey)));
  }

  private static void pem(Path file, String type, byte[] der) throws IOException {
    String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
    Files.writeString(file, "-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n");
  }
}
