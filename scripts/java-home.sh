# Sourced by the project's scripts: points JAVA_HOME at a JDK 25+ or fails with a clear message.
if [ -d /usr/lib/jvm/temurin-25-jdk-amd64 ]; then
  export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
_java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
_version=$("$_java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
if [ -z "$_version" ] || [ "${_version%%.*}" -lt 25 ]; then
  echo "error: JDK 25 or newer is required (found '${_version:-none}' at '$_java'); set JAVA_HOME" >&2
  exit 1
fi
export PATH="${JAVA_HOME:+$JAVA_HOME/bin:}$PATH"
unset _java _version
