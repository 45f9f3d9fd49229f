/// The release this build is: `switchyard --version` and `switchyard_build_info{version}`.
public enum SwitchyardBuild {
    public static let version = "0.1.0"
}
