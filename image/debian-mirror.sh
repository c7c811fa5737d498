# Sourced by sh and bash: debian_mirror prints the Debian mirror this system's apt uses (deb822 or
# one-line sources; never the security one), else Debian's default. build/base-image.sh uses it on
# the build host, install-packages.sh inside the image build.
debian_mirror() {
  _mirror=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    _mirror="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$_mirror" ] && [ -r /etc/apt/sources.list ]; then
    _mirror="$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)"
  fi
  echo "${_mirror:-http://deb.debian.org/debian}"
}
